package workflows_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// TestActionMetadataHasNoExpressionsWhereRefused: the runner reads `${{` in
// action.yml as an expression wherever it is, and the metadata (name,
// descriptions) has no context to evaluate it in: GitHub fails to load the
// action ("Unrecognized named-value: 'secrets'", "Failed to load
// .../action.yml") at "Set up job" of every job that uses it, and act says
// "expressions are not allowed here" — so a description that quotes
// `${{ secrets.GITHUB_TOKEN }}` makes the action unusable.
func TestActionMetadataHasNoExpressionsWhereRefused(t *testing.T) {
	files, err := filepath.Glob("../../actions/*/action.yml")
	require.NoError(t, err)
	files = append(files, "../../action.yml")
	require.Greater(t, len(files), 4)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var m struct {
			Name        string `yaml:"name"`
			Description string `yaml:"description"`
			Author      string `yaml:"author"`
			Inputs      map[string]struct {
				Description        string `yaml:"description"`
				DeprecationMessage string `yaml:"deprecationMessage"`
			} `yaml:"inputs"`
			Outputs map[string]struct {
				Description string `yaml:"description"`
			} `yaml:"outputs"`
		}
		require.NoError(t, yaml.Unmarshal(b, &m), f)
		check := func(where, s string) {
			assert.False(t, strings.Contains(s, "${{"), "%s: %s holds an expression, which the runner refuses there: %q", f, where, s)
		}
		check("name", m.Name)
		check("description", m.Description)
		check("author", m.Author)
		for name, in := range m.Inputs {
			check("inputs."+name+".description", in.Description)
			check("inputs."+name+".deprecationMessage", in.DeprecationMessage)
		}
		for name, out := range m.Outputs {
			check("outputs."+name+".description", out.Description)
		}
	}
}
