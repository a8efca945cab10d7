// Package workflows checks the repository's workflows beyond actionlint:
// third-party actions are pinned by commit SHA, and every use of one of our
// own actions passes only inputs it declares, and all it requires.
package workflows_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/org/erlmcp-deploy/internal/actionspec"
)

type step struct {
	Uses string            `yaml:"uses"`
	With map[string]string `yaml:"with"`
	line int
}

type workflow struct {
	Jobs map[string]struct {
		Uses  string `yaml:"uses"`
		Steps []yaml.Node
	} `yaml:"jobs"`
}

func workflowFiles(t *testing.T) []string {
	var files []string
	for _, pattern := range []string{"../../.github/workflows/*.yml", "../../examples/workflows/*.yml"} {
		m, err := filepath.Glob(pattern)
		require.NoError(t, err)
		files = append(files, m...)
	}
	require.NotEmpty(t, files)
	return files
}

func steps(t *testing.T, path string) []step {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var wf workflow
	require.NoError(t, yaml.Unmarshal(b, &wf), path)
	var out []step
	for _, j := range wf.Jobs {
		if j.Uses != "" {
			out = append(out, step{Uses: j.Uses})
		}
		for _, n := range j.Steps {
			var s step
			require.NoError(t, n.Decode(&s), path)
			s.line = n.Line
			out = append(out, s)
		}
	}
	return out
}

var pinned = regexp.MustCompile(`^[\w.-]+/[\w./-]+@[0-9a-f]{40}$`)

// TestThirdPartyActionsArePinned: a tag can be moved under us; a commit cannot.
func TestThirdPartyActionsArePinned(t *testing.T) {
	for _, f := range workflowFiles(t) {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		lines := strings.Split(string(raw), "\n")
		for _, s := range steps(t, f) {
			if s.Uses == "" || strings.HasPrefix(s.Uses, "./") || strings.HasPrefix(s.Uses, "org/erlmcp-deploy/") {
				continue
			}
			assert.Regexp(t, pinned, s.Uses, "%s:%d: pin %s by its full commit SHA", f, s.line, s.Uses)
			if s.line > 0 {
				assert.Regexp(t, `# v\d`, lines[s.line-1]+lines[min(s.line, len(lines)-1)], "%s:%d: say which version the SHA is", f, s.line)
			}
		}
	}
}

// TestOurActionsGetDeclaredInputs catches a renamed or misspelled input,
// which GitHub only warns about at run time.
func TestOurActionsGetDeclaredInputs(t *testing.T) {
	used := 0
	for _, f := range workflowFiles(t) {
		for _, s := range steps(t, f) {
			id, ok := ourAction(s.Uses)
			if !ok {
				continue
			}
			used++
			spec, found := actionspec.ByID(id)
			require.True(t, found, "%s:%d: no action %q", f, s.line, id)
			for name := range s.With {
				_, ok := spec.Input(name)
				assert.True(t, ok, "%s:%d: action %s has no input %q", f, s.line, id, name)
			}
			for _, in := range spec.Inputs {
				if in.Required {
					assert.Contains(t, s.With, in.Name, "%s:%d: action %s needs input %q", f, s.line, id, in.Name)
				}
			}
		}
	}
	assert.Greater(t, used, 5, "the pipeline uses our actions")
}

func ourAction(uses string) (string, bool) {
	for _, prefix := range []string{"org/erlmcp-deploy/actions/", "./actions/"} {
		if rest, ok := strings.CutPrefix(uses, prefix); ok {
			id, _, _ := strings.Cut(rest, "@")
			return id, true
		}
	}
	return "", false
}
