package actionspec_test

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/org/erlmcp-deploy/internal/actionspec"
)

const root = "../.."

// TestActionYAMLMatchesSpec fails when an action.yml was edited by hand or the
// declarations changed without `go run ./internal/actionspec/gen`.
func TestActionYAMLMatchesSpec(t *testing.T) {
	files, err := actionspec.Files()
	require.NoError(t, err)
	for path, want := range files {
		got, err := os.ReadFile(filepath.Join(root, path))
		require.NoError(t, err, "%s is missing: run go run ./internal/actionspec/gen", path)
		assert.Equal(t, string(want), string(got), "%s drifted from internal/actionspec: run go run ./internal/actionspec/gen", path)
	}
}

// TestEveryActionDirectoryIsDeclared keeps actions/ and the declarations in step.
func TestEveryActionDirectoryIsDeclared(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join(root, "actions"))
	require.NoError(t, err)
	var dirs, ids []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
			assert.FileExists(t, filepath.Join(root, "actions", e.Name(), "main.go"))
		}
	}
	for _, a := range actionspec.All() {
		ids = append(ids, a.ID)
	}
	sort.Strings(dirs)
	assert.Equal(t, ids, dirs)
}

// actionFile is the part of action.yml the runner reads.
type actionFile struct {
	Name        string
	Description string
	Branding    struct{ Icon, Color string }
	Inputs      map[string]struct {
		Description string
		Required    bool
		Default     *string
	}
	Outputs map[string]struct{ Description, Value string }
	Runs    struct {
		Using string
		Steps []struct {
			ID, Shell, Run string
			Env            map[string]string
		}
	}
}

// TestActionYAMLIsComplete checks what the runner and the marketplace need,
// parsed back from the files on disk.
func TestActionYAMLIsComplete(t *testing.T) {
	for _, a := range actionspec.All() {
		t.Run(a.ID, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(root, "actions", a.ID, "action.yml"))
			require.NoError(t, err)
			var f actionFile
			require.NoError(t, yaml.Unmarshal(b, &f))
			assert.NotEmpty(t, f.Name)
			assert.NotEmpty(t, f.Description)
			assert.NotEmpty(t, f.Branding.Icon)
			assert.NotEmpty(t, f.Branding.Color)
			require.Len(t, f.Runs.Steps, 1)
			step := f.Runs.Steps[0]
			assert.Equal(t, "composite", f.Runs.Using)
			assert.Equal(t, "run", step.ID)
			assert.Equal(t, `exec bash "$GITHUB_ACTION_PATH/../../scripts/launch.sh" `+a.ID, step.Run,
				"the step must exec the launcher: the runner signals only the step's own process on cancellation")
			assert.FileExists(t, filepath.Join(root, "scripts", "launch.sh"))
			require.Len(t, f.Inputs, len(a.Inputs))
			for _, in := range a.Inputs {
				got, ok := f.Inputs[in.Name]
				require.True(t, ok, "input %s missing", in.Name)
				assert.NotEmpty(t, got.Description)
				assert.Equal(t, in.Required, got.Required, in.Name)
				if in.Default != "" {
					assert.Contains(t, got.Description, "Default: `"+in.Default+"`", in.Name)
				}
				// The runner passes the declared default when the caller gives
				// none; only inputs whose empty value means something declare one.
				if d := in.RunnerDefault(); d != "" {
					if assert.NotNil(t, got.Default, in.Name) {
						assert.Equal(t, d, *got.Default, in.Name)
					}
				} else {
					assert.Nil(t, got.Default, "%s: the binary applies static defaults, so a config file can set them", in.Name)
				}
				assert.Equal(t, "${{ inputs."+in.Name+" }}", step.Env[actionspecEnv(in.Name)], "input %s is passed to the binary", in.Name)
			}
			require.Len(t, f.Outputs, len(a.Outputs))
			for _, o := range a.Outputs {
				got, ok := f.Outputs[o.Name]
				require.True(t, ok, "output %s missing", o.Name)
				assert.Equal(t, "${{ steps.run.outputs."+o.Name+" }}", got.Value)
			}
		})
	}
}

func actionspecEnv(name string) string {
	b := []byte(name)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return "INPUT_" + string(b)
}

func TestDeclarationsAreValid(t *testing.T) {
	for _, a := range actionspec.All() {
		assert.NoError(t, a.Validate())
	}
	bad := actionspec.Action{ID: "x", Inputs: []actionspec.Input{{Name: "m", Description: "d", Kind: actionspec.Enum, Values: []string{"a"}, Default: "b"}}}
	assert.ErrorContains(t, bad.Validate(), `default "b" is not one of a`)
	noDefault := actionspec.Action{ID: "x", Inputs: []actionspec.Input{{Name: "p", Description: "d", KeepEmpty: true}}}
	assert.ErrorContains(t, noDefault.Validate(), `input "p" keeps an empty value: it needs a static default`)
}

// TestEmptyMeansSomethingOnlyWhereDocumented: every KeepEmpty input says in
// its description what an empty value does.
func TestEmptyMeansSomethingOnlyWhereDocumented(t *testing.T) {
	var keep []string
	for _, a := range actionspec.All() {
		for _, in := range a.Inputs {
			if in.KeepEmpty {
				keep = append(keep, a.ID+"."+in.Name)
				assert.Contains(t, in.Description, "empty", "%s.%s", a.ID, in.Name)
			}
		}
	}
	assert.Equal(t, []string{"smoke.mcp-path"}, keep)
}

// TestReadmeTablesMatchSpec fails when README.md's input/output tables drift
// from the declarations (and so from action.yml, see TestActionYAMLMatchesSpec).
func TestReadmeTablesMatchSpec(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	want, err := actionspec.UpdateReadme(readme)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(readme), "README.md tables drifted: run go run ./internal/actionspec/gen")
}
