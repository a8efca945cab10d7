package ghaction_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/ghaction"
)

// TestEmptyInputs: under the runner every input of a composite action is set
// (to action.yml's default when the caller gave none). An empty INPUT_ of an
// ordinary input is "not given"; a KeepEmpty input keeps an empty value.
func TestEmptyInputs(t *testing.T) {
	spec := actionspec.Action{ID: "e", Inputs: []actionspec.Input{
		{Name: "mcp-path", Kind: actionspec.String, Default: "/mcp", KeepEmpty: true, Description: "d; empty skips"},
		{Name: "wait", Kind: actionspec.Duration, Default: "10m", Description: "d"},
	}}
	unset := "<unset>"
	tests := []struct {
		name          string
		env, config   string // unset: absent
		flag          string // unset: no flag
		input         string
		want, wantSrc string
	}{
		{name: "absent: default", input: "mcp-path", env: unset, config: unset, flag: unset, want: "/mcp", wantSrc: "default"},
		{name: "given as empty: empty", input: "mcp-path", env: "", config: unset, flag: unset, want: "", wantSrc: "given"},
		{name: "blank is empty", input: "mcp-path", env: "  ", config: unset, flag: unset, want: "", wantSrc: "given"},
		{name: "given", input: "mcp-path", env: "/rpc", config: unset, flag: unset, want: "/rpc", wantSrc: "given"},
		{name: "action.yml default: not given", input: "mcp-path", env: "/mcp", config: unset, flag: unset, want: "/mcp", wantSrc: "default"},
		{name: "action.yml default yields to the config file", input: "mcp-path", env: "/mcp", config: "/api/mcp", flag: unset, want: "/api/mcp", wantSrc: "given"},
		{name: "config file empties it", input: "mcp-path", env: "/mcp", config: "", flag: unset, want: "", wantSrc: "given"},
		{name: "given as empty beats the config file", input: "mcp-path", env: "", config: "/api/mcp", flag: unset, want: "", wantSrc: "given"},
		{name: "empty flag", input: "mcp-path", env: "/rpc", config: unset, flag: "", want: "", wantSrc: "given"},
		{name: "ordinary input absent: default", input: "wait", env: unset, config: unset, flag: unset, want: "10m", wantSrc: "default"},
		{name: "ordinary input empty: not given", input: "wait", env: "", config: unset, flag: unset, want: "10m", wantSrc: "default"},
		{name: "ordinary input empty: config applies", input: "wait", env: "", config: "5m", flag: unset, want: "5m", wantSrc: "given"},
		{name: "ordinary input empty in config: default", input: "wait", env: "", config: "", flag: unset, want: "10m", wantSrc: "default"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			if tc.env != unset {
				env[ghaction.EnvName(tc.input)] = tc.env
			}
			opts := []ghaction.Option{ghaction.WithWriter(&bytes.Buffer{}), ghaction.WithLookupEnv(func(k string) (string, bool) {
				v, ok := env[k]
				return v, ok
			})}
			if tc.flag != unset {
				opts = append(opts, ghaction.WithOverrides(map[string]string{tc.input: tc.flag}))
			}
			rt := ghaction.New(spec, opts...)
			if tc.config != unset {
				rt.SetDefaults("cfg.yml", map[string]ghaction.Default{tc.input: {Value: tc.config, Line: 1}})
			}
			code := rt.Run(context.Background(), func(ctx context.Context, rt *ghaction.Runtime) error {
				assert.Equal(t, tc.want, rt.String(tc.input))
				assert.Equal(t, tc.wantSrc == "given", rt.Has(tc.input))
				return rt.ValidateAll()
			})
			assert.Equal(t, ghaction.ExitOK, code)
		})
	}
}

// TestWithGetenvCannotSeeEmptyValues: a plain getenv cannot tell "" from
// absent, so an empty KeepEmpty input falls back to its default there.
func TestWithGetenvCannotSeeEmptyValues(t *testing.T) {
	spec := actionspec.Action{ID: "e", Inputs: []actionspec.Input{
		{Name: "mcp-path", Kind: actionspec.String, Default: "/mcp", KeepEmpty: true, Description: "d"},
	}}
	rt := ghaction.New(spec, ghaction.WithWriter(&bytes.Buffer{}), ghaction.WithGetenv(func(string) string { return "" }))
	assert.Equal(t, "/mcp", rt.String("mcp-path"))
}
