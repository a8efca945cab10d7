package cli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/cli"
	"github.com/org/erlmcp-deploy/internal/ghaction"
)

type seen struct{ values map[string]string }

func commands(s *seen) []cli.Command {
	var out []cli.Command
	for _, a := range actionspec.All() {
		out = append(out, cli.Command{Spec: a, Run: func(ctx context.Context, rt *ghaction.Runtime) error {
			if err := rt.ValidateAll(); err != nil {
				return err
			}
			s.values = map[string]string{}
			for _, in := range rt.Spec().Inputs {
				s.values[in.Name] = rt.String(in.Name)
			}
			return nil
		}})
	}
	return out
}

func run(t *testing.T, env map[string]string, args ...string) (int, string, string, *seen) {
	var stdout, stderr bytes.Buffer
	s := &seen{}
	code := cli.Main(context.Background(), args, cli.Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }, Version: "v9.9.9"}, commands(s))
	return code, stdout.String(), stderr.String(), s
}

func TestFlagsAreNamedLikeInputs(t *testing.T) {
	code, out, _, s := run(t, map[string]string{"INPUT_NAMESPACE": "from-env", "INPUT_TIMEOUT": "3m"},
		"deploy", "--environment", "staging", "--image=ghcr.io/acme/erlmcp:1.2.0", "--dry-run", "--timeout", "90s")
	require.Equal(t, ghaction.ExitOK, code, out)
	assert.Equal(t, "staging", s.values["environment"])
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.2.0", s.values["image"])
	assert.Equal(t, "true", s.values["dry-run"], "a bool flag alone means true")
	assert.Equal(t, "90s", s.values["timeout"], "flag wins over INPUT_")
	assert.Equal(t, "from-env", s.values["namespace"], "INPUT_ is read like in a step")
	assert.Equal(t, "erlmcp", s.values["deployment"], "declared default")
}

func TestRepeatedListFlags(t *testing.T) {
	code, out, _, s := run(t, nil, "smoke", "--base-url", "http://127.0.0.1:1", "--mcp-expect-tools", "echo", "--mcp-expect-tools", "add")
	require.Equal(t, ghaction.ExitOK, code, out)
	assert.Equal(t, "echo\nadd", s.values["mcp-expect-tools"])
}

func TestBadInputNamesTheInput(t *testing.T) {
	code, out, _, _ := run(t, nil, "deploy", "--environment", "x", "--image", "i", "--fail-fast=sometimes")
	assert.Equal(t, ghaction.ExitBadInput, code)
	assert.Contains(t, out, `invalid input fail-fast: "sometimes" is not a boolean; accepted values: true, false`)

	code, _, errOut, _ := run(t, nil, "deploy", "--imgae", "x")
	assert.Equal(t, ghaction.ExitBadInput, code)
	assert.Contains(t, errOut, "flag provided but not defined: -imgae")

	code, _, errOut, _ = run(t, nil, "deploy", "stray")
	assert.Equal(t, ghaction.ExitBadInput, code)
	assert.Contains(t, errOut, `unexpected argument "stray"`)

	code, _, errOut, _ = run(t, nil, "deplyo")
	assert.Equal(t, ghaction.ExitBadInput, code)
	assert.Contains(t, errOut, `unknown command "deplyo"`)
}

// TestHelpListsEveryInputAndOutput ties --help to the same declarations as action.yml.
func TestHelpListsEveryInputAndOutput(t *testing.T) {
	for _, a := range actionspec.All() {
		code, out, _, _ := run(t, nil, a.ID, "--help")
		require.Equal(t, ghaction.ExitOK, code)
		for _, in := range a.Inputs {
			assert.Contains(t, out, "--"+in.Name+" "+in.Kind.String(), "%s --help lacks %s", a.ID, in.Name)
			if in.Default != "" {
				assert.Contains(t, out, "default "+in.Default)
			}
		}
		for _, o := range a.Outputs {
			assert.Contains(t, out, "  "+o.Name+" ")
		}
	}
	code, out, _, _ := run(t, nil, "--help")
	assert.Equal(t, ghaction.ExitOK, code)
	for _, a := range actionspec.All() {
		assert.True(t, strings.Contains(out, "  "+a.ID+" "), "usage lists %s", a.ID)
	}
	code, out, _, _ = run(t, nil, "version")
	assert.Equal(t, ghaction.ExitOK, code)
	assert.Equal(t, "erlmcp-deploy v9.9.9\n", out)
}
