package smoke_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/app/smoke"
	"github.com/org/erlmcp-deploy/internal/erlmcpd"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/notify/slackfake"
	engine "github.com/org/erlmcp-deploy/internal/smoke"
)

const (
	headerSecret = "hdr-S3cret-Token-987"
	envSecret    = "env-S3cret-Value-123"
	slackSecret  = "xoxb-smoke-S3cret-456"
)

type run struct {
	code    int
	log     string
	outputs map[string]string
	summary string
}

// action runs the smoke action as GitHub Actions would, with inputs as INPUT_
// variables (an input given as "" is set to "", not left out).
func action(t *testing.T, inputs map[string]string, extraEnv map[string]string) run {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	outFile, sumFile := filepath.Join(dir, "output"), filepath.Join(dir, "summary")
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": outFile, "GITHUB_STEP_SUMMARY": sumFile, "RUNNER_TEMP": dir}
	for k, v := range inputs {
		env[ghaction.EnvName(k)] = v
	}
	for k, v := range extraEnv {
		env[k] = v
	}
	var buf bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	lookup := func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
	code := ghaction.New(actionspec.Smoke(), ghaction.WithLookupEnv(lookup), ghaction.WithWriter(&buf)).Run(ctx, smoke.Run)
	out, _ := os.ReadFile(outFile)
	sum, _ := os.ReadFile(sumFile)
	return run{code: code, log: buf.String(), outputs: parseOutputs(string(out)), summary: string(sum)}
}

func parseOutputs(s string) map[string]string {
	out := map[string]string{}
	re := regexp.MustCompile(`(?s)([a-z0-9-]+)<<(ghadelimiter_erlmcp[_0-9]*)\n(.*?)\n?(ghadelimiter_erlmcp[_0-9]*)\n`)
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		out[m[1]] = m[3]
	}
	return out
}

// noLeak asserts that secret appears in text only in ::add-mask:: lines.
func noLeak(t *testing.T, where, text, secret string) {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, secret) && !strings.HasPrefix(line, "::add-mask::") {
			t.Errorf("%s leaks a secret: %q", where, line)
		}
	}
}

func TestAction(t *testing.T) {
	var sawHeader, sawEnv atomic.Bool
	erl := erlmcpd.New(erlmcpd.Options{Status: erlmcpd.Degraded})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer "+headerSecret {
			sawHeader.Store(true)
		}
		if r.Header.Get("X-Api-Key") == envSecret {
			sawEnv.Store(true)
		}
		erl.ServeHTTP(w, r)
	}))
	defer srv.Close()
	checksFile := filepath.Join(t.TempDir(), "checks.yml")
	require.NoError(t, os.WriteFile(checksFile, []byte(`checks:
  - name: echo key
    method: POST
    path: /api/echo
    headers: {X-Api-Key: "${API_KEY}"}
    json: {ping: pong}
    expect:
      status: 200
      json:
        - {path: $.json.ping, op: "==", value: pong}
        - {path: "$.headers['X-Api-Key']", op: exists}
`), 0o644))
	reportDir := filepath.Join(t.TempDir(), "reports")
	fake, api := slackfake.New(t, slackSecret)
	r := action(t, map[string]string{
		"base-url": srv.URL, "environment": "staging", "mcp-expect-tools": "echo, add", "dashboard-url": "/dashboard",
		"headers": "Authorization: Bearer " + headerSecret, "checks-file": checksFile, "report-dir": reportDir,
		"wait": "5s", "max-response-time": "2s",
		"load-duration": "300ms", "load-concurrency": "2", "load-p99": "1s", "load-max-error-rate": "1%",
		"slack-token": slackSecret, "slack-channel": "C0DEPLOYS",
	}, map[string]string{"API_KEY": envSecret, "ERLMCP_SLACK_API_URL": api})
	require.Equal(t, 0, r.code, r.log)
	assert.NotEmpty(t, fake.Calls(), "Slack was told")
	noLeak(t, "log", r.log, slackSecret)
	noLeak(t, "summary", r.summary, slackSecret)
	noLeak(t, "outputs", strings.Join(mapValues(r.outputs), "\n"), slackSecret)
	assert.True(t, sawHeader.Load())
	assert.True(t, sawEnv.Load())

	for _, n := range []string{"passed", "total", "failed", "report", "junit", "p50-ms", "p95-ms", "p99-ms", "rps", "error-rate"} {
		assert.Contains(t, r.outputs, n)
	}
	assert.Equal(t, "0", r.outputs["failed"])
	assert.Equal(t, r.outputs["passed"], r.outputs["total"])
	assert.Equal(t, "12", r.outputs["total"]) // wait, /health, 3 subsystems, ready, live, metrics, MCP, dashboard, echo key, load gate
	assert.Equal(t, filepath.Join(reportDir, engine.JSONReportName), r.outputs["report"])
	assert.Equal(t, "0.0000", r.outputs["error-rate"])
	assert.NotEmpty(t, r.outputs["p99-ms"])
	assert.NotEqual(t, "0.0", r.outputs["rps"])

	assert.Contains(t, r.summary, "## ✅ Smoke test of staging passed (12/12)")
	assert.Contains(t, r.summary, "| check | result | latency | detail |")
	assert.Contains(t, r.summary, "| health: session_manager | ⚠️ warn |")
	assert.Contains(t, r.summary, "| check: echo key | ✅ pass |")
	assert.Contains(t, r.summary, "### Load gate")
	assert.Contains(t, r.log, "::warning::! /health")

	var js engine.JSONReport
	data, err := os.ReadFile(r.outputs["report"])
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &js))
	assert.True(t, js.OK)
	assert.Equal(t, 12, js.Total)
	var ju engine.JUnitSuites
	data, err = os.ReadFile(r.outputs["junit"])
	require.NoError(t, err)
	require.NoError(t, xml.Unmarshal(data, &ju))
	assert.Equal(t, 12, ju.Tests)

	assert.Contains(t, r.log, "::add-mask::"+headerSecret)
	assert.Contains(t, r.log, "::add-mask::"+envSecret)
	for where, text := range map[string]string{"log": r.log, "summary": r.summary, "outputs": strings.Join(mapValues(r.outputs), "\n")} {
		noLeak(t, where, text, headerSecret)
		noLeak(t, where, text, envSecret)
	}
	for _, p := range []string{r.outputs["report"], r.outputs["junit"]} {
		data, _ := os.ReadFile(p)
		assert.NotContains(t, string(data), headerSecret)
	}
}

func TestActionFails(t *testing.T) {
	srv := httptest.NewServer(erlmcpd.New(erlmcpd.Options{Status: erlmcpd.Degraded, Tools: []string{"echo"}}))
	defer srv.Close()
	fake, api := slackfake.New(t, slackSecret)
	r := action(t, map[string]string{
		"base-url": srv.URL, "mcp-expect-tools": "echo\nadd", "fail-on-degraded": "true", "wait": "2s",
		"insecure-skip-tls-verify": "true", "headers": "Authorization: Bearer " + headerSecret,
		"slack-token": slackSecret, "slack-channel": "C0DEPLOYS",
	}, map[string]string{"ERLMCP_SLACK_API_URL": api})
	assert.Equal(t, 1, r.code, r.log)
	assert.NotEmpty(t, fake.Calls(), "Slack was told")
	for where, text := range map[string]string{"log": r.log, "summary": r.summary, "outputs": strings.Join(mapValues(r.outputs), "\n")} {
		noLeak(t, where, text, slackSecret)
		noLeak(t, where, text, headerSecret)
	}
	assert.Contains(t, r.log, "::warning::insecure-skip-tls-verify is on")
	assert.Contains(t, r.log, "::error::3 of 9 smoke checks failed: /health, health: session_manager, MCP /mcp")
	assert.Contains(t, r.log, "tools/list lacks expected tool(s) add (server offers: echo)")
	assert.Equal(t, "3", r.outputs["failed"])
	assert.Equal(t, "", r.outputs["p50-ms"])
	assert.Contains(t, r.summary, "## ❌ Smoke test of "+srv.URL+" failed (3 of 9 checks failed)")
	assert.FileExists(t, r.outputs["report"])
	assert.FileExists(t, r.outputs["junit"])
}

func TestActionConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	r := action(t, map[string]string{"base-url": base, "wait": "300ms"}, nil)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.log, "connection refused")
	assert.Equal(t, "1", r.outputs["total"])
}

func TestBadInputs(t *testing.T) {
	tests := []struct {
		inputs map[string]string
		want   []string
	}{
		{map[string]string{"base-url": "http://127.0.0.1:1", "suite": "everything"},
			[]string{`::error title=Invalid input suite::"everything" is not accepted; accepted values: erlmcp, none`}},
		{map[string]string{"base-url": "not a url"},
			[]string{`::error title=Invalid input base-url::"not a url" is not an http(s) URL`}},
		{map[string]string{},
			[]string{`::error title=Invalid input base-url::is required`}},
		{map[string]string{"base-url": "http://127.0.0.1:1", "mcp-path": "mcp", "dashboard-url": "ftp://x"},
			[]string{`::error title=Invalid input mcp-path::"mcp" is neither a path starting with / nor an http(s) URL`,
				`::error title=Invalid input dashboard-url::`}},
		{map[string]string{"base-url": "http://127.0.0.1:1", "headers": "Authorization Bearer " + headerSecret},
			[]string{"::error title=Invalid input headers::line 1 is not `Name: value`"}},
		{map[string]string{"base-url": "http://127.0.0.1:1", "checks-file": "/nonexistent/checks.yml"},
			[]string{"::error title=Invalid input checks-file::open /nonexistent/checks.yml: no such file or directory"}},
		{map[string]string{"base-url": "http://127.0.0.1:1", "load-duration": "1s", "load-concurrency": "0", "load-max-error-rate": "2"},
			[]string{"::error title=Invalid input load-concurrency::", "::error title=Invalid input load-max-error-rate::"}},
	}
	for _, tt := range tests {
		r := action(t, tt.inputs, nil)
		assert.Equal(t, 2, r.code, r.log)
		for _, w := range tt.want {
			assert.Contains(t, r.log, w)
		}
		noLeak(t, "log", r.log, headerSecret)
	}
}

func TestChecksFileUnknownKey(t *testing.T) {
	f := filepath.Join(t.TempDir(), "c.yml")
	require.NoError(t, os.WriteFile(f, []byte("checks:\n  - name: a\n    path: /\n    expectt: {}\n"), 0o644))
	r := action(t, map[string]string{"base-url": "http://127.0.0.1:1", "checks-file": f}, nil)
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.log, "::error title=Invalid input checks-file::"+f+": checks file: yaml: unmarshal errors:")
	assert.Contains(t, r.log, "line 4: field expectt not found in type checks.Check")
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// An answer that echoes the secret header back is quoted in a detail: the
// log, summary and report files must still not show it.
func TestEchoedSecretIsRedacted(t *testing.T) {
	erl := erlmcpd.New(erlmcpd.Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/dashboard" {
			http.Error(w, "denied for "+r.Header.Get("Authorization"), http.StatusForbidden)
			return
		}
		erl.ServeHTTP(w, r)
	}))
	defer srv.Close()
	r := action(t, map[string]string{"base-url": srv.URL, "dashboard-url": "/dashboard", "headers": "Authorization: Bearer " + headerSecret, "wait": "2s"}, nil)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.log, "answered 403 Forbidden, want 200: denied for ***")
	noLeak(t, "log", r.log, headerSecret)
	noLeak(t, "summary", r.summary, headerSecret)
	for _, p := range []string{r.outputs["report"], r.outputs["junit"]} {
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		assert.NotContains(t, string(data), headerSecret)
		assert.Contains(t, string(data), "denied for ***")
	}
}

// TestEmptyMCPPathSkipsTheMCPCheck: `mcp-path: ”` skips the MCP check, as
// documented; not giving it (INPUT_ absent on a laptop, the action.yml
// default /mcp under the runner) runs it; the config file can empty it too.
func TestEmptyMCPPathSkipsTheMCPCheck(t *testing.T) {
	var mcpCalls atomic.Int32
	erl := erlmcpd.New(erlmcpd.Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/mcp" {
			mcpCalls.Add(1)
		}
		erl.ServeHTTP(w, r)
	}))
	defer srv.Close()
	unset := "<unset>"
	for _, tc := range []struct {
		name, mcpPath, config string
		mcp                   bool
	}{
		{name: "absent", mcpPath: unset, config: unset, mcp: true},
		{name: "runner default", mcpPath: "/mcp", config: unset, mcp: true},
		{name: "given as empty", mcpPath: "", config: unset, mcp: false},
		{name: "emptied by the config file", mcpPath: "/mcp", config: "''", mcp: false},
		{name: "given as empty beats the config file", mcpPath: "", config: "/mcp", mcp: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mcpCalls.Store(0)
			inputs := map[string]string{"base-url": srv.URL, "wait": "2s"}
			if tc.mcpPath != unset {
				inputs["mcp-path"] = tc.mcpPath
			}
			if tc.config != unset {
				cfg := filepath.Join(t.TempDir(), "erlmcp-deploy.yml")
				require.NoError(t, os.WriteFile(cfg, []byte("defaults:\n  mcp-path: "+tc.config+"\n"), 0o644))
				inputs["config"] = cfg
			}
			r := action(t, inputs, nil)
			require.Equal(t, 0, r.code, r.log)
			if tc.mcp {
				assert.Contains(t, r.summary, "| MCP /mcp | ✅ pass |")
				assert.NotZero(t, mcpCalls.Load())
			} else {
				assert.NotContains(t, r.summary, "| MCP ")
				assert.Zero(t, mcpCalls.Load(), "nothing asked the MCP endpoint")
			}
		})
	}
}
