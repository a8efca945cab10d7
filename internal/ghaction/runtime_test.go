package ghaction_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/ghaction"
)

func testSpec() actionspec.Action {
	return actionspec.Action{
		ID: "t", Name: "test", Description: "test action",
		Inputs: []actionspec.Input{
			{Name: "name", Kind: actionspec.String, Required: true, Description: "d"},
			{Name: "flag", Kind: actionspec.Bool, Default: "true", Description: "d"},
			{Name: "wait", Kind: actionspec.Duration, Default: "10m", Description: "d"},
			{Name: "count", Kind: actionspec.Int, Default: "3", Description: "d"},
			{Name: "rate", Kind: actionspec.Float, Description: "d"},
			{Name: "mode", Kind: actionspec.Enum, Default: "a", Values: []string{"a", "b"}, Description: "d"},
			{Name: "files", Kind: actionspec.List, Description: "d"},
			{Name: "tools", Kind: actionspec.List, Commas: true, Description: "d"},
			{Name: "token", Kind: actionspec.String, Secret: true, Description: "d"},
		},
		Outputs: []actionspec.Output{{Name: "result", Description: "d"}, {Name: "multi", Description: "d"}},
	}
}

// runner mimics what the Actions runner gives a step: INPUT_* variables and
// the GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files.
type runner struct {
	env     map[string]string
	out     bytes.Buffer
	outputs string
	summary string
}

func newRunner(t *testing.T, inputs map[string]string) *runner {
	dir := t.TempDir()
	r := &runner{env: map[string]string{
		"GITHUB_ACTIONS":      "true",
		"GITHUB_OUTPUT":       filepath.Join(dir, "output"),
		"GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary"),
	}}
	r.outputs, r.summary = r.env["GITHUB_OUTPUT"], r.env["GITHUB_STEP_SUMMARY"]
	for k, v := range inputs {
		r.env[ghaction.EnvName(k)] = v
	}
	return r
}

func (r *runner) run(t *testing.T, fn ghaction.RunFunc, opts ...ghaction.Option) int {
	opts = append([]ghaction.Option{ghaction.WithGetenv(func(k string) string { return r.env[k] }), ghaction.WithWriter(&r.out)}, opts...)
	return ghaction.New(testSpec(), opts...).Run(context.Background(), fn)
}

func read(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	require.NoError(t, err)
	return string(b)
}

func TestTypedInputsAndDefaults(t *testing.T) {
	r := newRunner(t, map[string]string{"name": " erlmcp ", "wait": "90", "rate": "25%", "files": "a.tgz\n\n b.tgz \n", "tools": "echo, add\nping", "mode": "b"})
	code := r.run(t, func(ctx context.Context, rt *ghaction.Runtime) error {
		assert.Equal(t, "erlmcp", rt.String("name"))
		assert.True(t, rt.Bool("flag"), "declared default applies")
		assert.Equal(t, 90*time.Second, rt.Duration("wait"), "bare number is seconds")
		assert.Equal(t, 3, rt.Int("count"))
		f, ok := rt.Float("rate")
		assert.True(t, ok)
		assert.InDelta(t, 0.25, f, 1e-9)
		assert.Equal(t, "b", rt.Enum("mode"))
		assert.Equal(t, []string{"a.tgz", "b.tgz"}, rt.List("files"))
		assert.Equal(t, []string{"echo", "add", "ping"}, rt.List("tools"))
		assert.False(t, rt.Has("count"))
		assert.True(t, rt.Has("name"))
		return rt.InputErr()
	})
	assert.Equal(t, ghaction.ExitOK, code, r.out.String())
}

func TestPrecedenceFlagInputConfigDefault(t *testing.T) {
	r := newRunner(t, map[string]string{"name": "from-input", "count": "7"})
	code := r.run(t, func(ctx context.Context, rt *ghaction.Runtime) error {
		rt.SetDefaults("cfg.yml", map[string]ghaction.Default{"name": {Value: "from-config"}, "count": {Value: "9"}, "mode": {Value: "b"}})
		assert.Equal(t, "from-flag", rt.String("name"), "flag beats input")
		assert.Equal(t, 7, rt.Int("count"), "input beats config")
		assert.Equal(t, "b", rt.Enum("mode"), "config beats default")
		assert.Equal(t, "10m0s", rt.Duration("wait").String(), "default last")
		return nil
	}, ghaction.WithOverrides(map[string]string{"name": "from-flag"}))
	assert.Equal(t, ghaction.ExitOK, code)
}

func TestSetDefaultsFromASharedFile(t *testing.T) {
	const file = ".github/erlmcp-deploy.yml"
	tests := []struct {
		name     string
		values   map[string]ghaction.Default
		code     int
		want     []string // in the log
		notWant  []string
		applied  map[string]string
		inputErr bool
	}{
		{
			name:    "own keys apply",
			values:  map[string]ghaction.Default{"count": {Value: "9", Line: 3}, "mode": {Value: "b", Line: 4}},
			code:    ghaction.ExitOK,
			applied: map[string]string{"count": "9", "mode": "b"},
		},
		{
			name: "keys of other actions are ignored with a debug line",
			values: map[string]ghaction.Default{"count": {Value: "9", Line: 2}, "namespace": {Value: "erlmcp-staging", Line: 3},
				"base-url": {Value: "https://x", Line: 4}, "to": {Value: "previous", Line: 5}},
			code: ghaction.ExitOK,
			want: []string{
				"::debug::" + file + ":3: namespace is an input of deploy, rollback, smoke, not of t: ignored here",
				"::debug::" + file + ":4: base-url is an input of smoke, not of t: ignored here",
				"::debug::" + file + ":5: to is an input of rollback, not of t: ignored here",
			},
			notWant: []string{"::error"},
			applied: map[string]string{"count": "9"},
		},
		{
			name:   "a key no action declares is an error at its line",
			values: map[string]ghaction.Default{"count": {Value: "9", Line: 2}, "nmespace": {Value: "x", Line: 7}, "draft": {Value: "true", Line: 9}},
			code:   ghaction.ExitBadInput,
			want: []string{
				"::error file=" + file + ",line=7,title=Invalid input config::" + file + `:7: unknown key "nmespace": no action reading this file has such an input (did you mean "namespace"?); accepted keys: analysis, base-url, blue-green-keep, ca-file,`,
				// release-notes does not read the file: its inputs are not accepted keys.
				"::error file=" + file + ",line=9,title=Invalid input config::" + file + `:9: unknown key "draft"`,
			},
			inputErr: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRunner(t, map[string]string{"name": "x"})
			code := r.run(t, func(ctx context.Context, rt *ghaction.Runtime) error {
				rt.SetDefaults(file, tc.values)
				if !tc.inputErr {
					assert.Equal(t, tc.applied["count"] != "", rt.Has("count"))
					assert.Equal(t, tc.applied["mode"] != "", rt.Has("mode"))
					if tc.applied["count"] != "" {
						assert.Equal(t, 9, rt.Int("count"))
					}
				}
				return rt.ValidateAll()
			})
			assert.Equal(t, tc.code, code, r.out.String())
			for _, w := range tc.want {
				assert.Contains(t, r.out.String(), w)
			}
			for _, w := range tc.notWant {
				assert.NotContains(t, r.out.String(), w)
			}
		})
	}
}

func TestInvalidInputsAreAnnotatedAndExitTwo(t *testing.T) {
	tests := []struct {
		name, input, value, want string
	}{
		{"missing required", "name", "", "::error title=Invalid input name::is required"},
		{"bool", "flag", "yes", `::error title=Invalid input flag::"yes" is not a boolean; accepted values: true, false`},
		{"duration", "wait", "5 minutes", `::error title=Invalid input wait::"5 minutes" is not a duration; accepted values: a Go duration`},
		{"negative duration", "wait", "-5s", `::error title=Invalid input wait::"-5s" is negative`},
		{"int", "count", "three", `::error title=Invalid input count::"three" is not a non-negative whole number`},
		{"float", "rate", "fast", `::error title=Invalid input rate::"fast" is not a non-negative number`},
		{"enum", "mode", "c", `::error title=Invalid input mode::"c" is not accepted; accepted values: a, b`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inputs := map[string]string{"name": "ok"}
			inputs[tc.input] = tc.value
			r := newRunner(t, inputs)
			ran := false
			code := r.run(t, func(ctx context.Context, rt *ghaction.Runtime) error {
				if err := rt.ValidateAll(); err != nil {
					return err
				}
				ran = true
				return nil
			})
			assert.Equal(t, ghaction.ExitBadInput, code)
			assert.False(t, ran, "work must not start after invalid input")
			assert.Contains(t, r.out.String(), tc.want)
		})
	}
}

func TestOutputsSummaryAndMasking(t *testing.T) {
	const secret = "ghp_s3cr3tTOKENvalue"
	r := newRunner(t, map[string]string{"name": "x", "token": secret})
	code := r.run(t, func(ctx context.Context, rt *ghaction.Runtime) error {
		tok := rt.String("token")
		end := rt.Group("Pre-flight")
		rt.Infof("using token %s", tok)
		rt.Warnf("warn %s", tok)
		end()
		rt.SetOutput("result", "ok "+tok)
		rt.SetOutput("multi", "line1\nline2")
		rt.Summary().Heading(2, "Deploy").Table([]string{"a", "b"}, [][]string{{"x|y", tok}})
		return nil
	})
	require.Equal(t, ghaction.ExitOK, code, r.out.String())
	log := r.out.String()
	assert.Contains(t, log, "::add-mask::"+secret, "the runner is told the value to mask")
	assert.Contains(t, log, "::group::Pre-flight\n")
	assert.Contains(t, log, "::endgroup::")
	assert.Contains(t, log, "using token ***")
	assert.Contains(t, log, "::warning::warn ***")
	withoutMaskCmd := bytes.ReplaceAll(r.out.Bytes(), []byte("::add-mask::"+secret), nil)
	assert.NotContains(t, string(withoutMaskCmd), secret)

	outputs := read(t, r.outputs)
	assert.Contains(t, outputs, "result<<ghadelimiter_erlmcp\nok ***\nghadelimiter_erlmcp\n")
	assert.Contains(t, outputs, "multi<<ghadelimiter_erlmcp\nline1\nline2\nghadelimiter_erlmcp\n")
	summary := read(t, r.summary)
	assert.Contains(t, summary, "## Deploy")
	assert.Contains(t, summary, `| x\|y | *** |`)
	assert.NotContains(t, outputs+summary, secret)
}

func TestFailureAndCancellationExitCodes(t *testing.T) {
	r := newRunner(t, map[string]string{"name": "x"})
	code := r.run(t, func(ctx context.Context, rt *ghaction.Runtime) error {
		return errors.New("rollout failed: pod crash\nsecond line")
	})
	assert.Equal(t, ghaction.ExitFailed, code)
	assert.Contains(t, r.out.String(), "::error::rollout failed: pod crash%0Asecond line")

	r = newRunner(t, map[string]string{"name": "x"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	code = ghaction.New(testSpec(), ghaction.WithGetenv(func(k string) string { return r.env[k] }), ghaction.WithWriter(&r.out)).
		Run(ctx, func(ctx context.Context, rt *ghaction.Runtime) error { return ctx.Err() })
	assert.Equal(t, ghaction.ExitCancelled, code)
	assert.Contains(t, r.out.String(), "cancelled")
}

func TestLocalModePrintsPlainText(t *testing.T) {
	var out bytes.Buffer
	env := map[string]string{"INPUT_NAME": "x"}
	code := ghaction.New(testSpec(), ghaction.WithGetenv(func(k string) string { return env[k] }), ghaction.WithWriter(&out)).
		Run(context.Background(), func(ctx context.Context, rt *ghaction.Runtime) error {
			end := rt.Group("Wait")
			rt.Infof("1/3 ready")
			end()
			rt.SetOutput("result", "done")
			return nil
		})
	assert.Equal(t, ghaction.ExitOK, code)
	assert.Equal(t, "▸ Wait\n  1/3 ready\noutputs:\n  result=done\n", out.String())
}

func TestUndeclaredNamesPanic(t *testing.T) {
	rt := ghaction.New(testSpec(), ghaction.WithGetenv(func(string) string { return "" }), ghaction.WithWriter(&bytes.Buffer{}))
	assert.Panics(t, func() { rt.String("nope") })
	assert.Panics(t, func() { rt.SetOutput("nope", "") })
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"0": 0, "1.5": 1500 * time.Millisecond, "5m": 5 * time.Minute, "1h30m": 90 * time.Minute} {
		got, err := ghaction.ParseDuration(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "abc", "-1", "-1s", "1e300"} {
		_, err := ghaction.ParseDuration(bad)
		assert.Error(t, err, bad)
	}
}

func TestKubeconfigCredentialsAreMaskedNotItsLines(t *testing.T) {
	const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster: {server: "https://10.0.0.1:6443"}
users:
- name: ci
  user:
    token: eyJhbGciOiJSUzI1NiJ9.payload.sig
    client-key-data: LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0t
    exec:
      command: aws
      env:
      - {name: AWS_SECRET, value: wJalrXUtnFEMIK7MDENG}
contexts:
- name: prod
  context: {cluster: prod, user: ci}
current-context: prod
`
	spec := actionspec.Action{ID: "k", Inputs: []actionspec.Input{{Name: "kubeconfig", Secret: true, Kubeconfig: true, Description: "d"}}}
	var out bytes.Buffer
	env := map[string]string{"GITHUB_ACTIONS": "true", "INPUT_KUBECONFIG": kubeconfig}
	code := ghaction.New(spec, ghaction.WithGetenv(func(k string) string { return env[k] }), ghaction.WithWriter(&out)).
		Run(context.Background(), func(ctx context.Context, rt *ghaction.Runtime) error {
			rt.String("kubeconfig")
			rt.Infof("token eyJhbGciOiJSUzI1NiJ9.payload.sig key LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0t env wJalrXUtnFEMIK7MDENG")
			rt.Infof("kind: Config and apiVersion: v1 stay readable")
			return nil
		})
	require.Equal(t, ghaction.ExitOK, code)
	log := out.String()
	for _, secret := range []string{"eyJhbGciOiJSUzI1NiJ9.payload.sig", "LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0t", "wJalrXUtnFEMIK7MDENG"} {
		assert.Contains(t, log, "::add-mask::"+secret)
	}
	assert.Contains(t, log, "token *** key *** env ***")
	assert.Contains(t, log, "kind: Config and apiVersion: v1 stay readable")
	assert.NotContains(t, log, "::add-mask::kind: Config")
}

func TestKubeconfigSecretsOfNonYAML(t *testing.T) {
	assert.Empty(t, ghaction.KubeconfigSecrets([]byte("{not yaml")))
	assert.Equal(t, []string{"abc123"}, ghaction.KubeconfigSecrets([]byte("users:\n- user:\n    token: abc123\n")))
}
