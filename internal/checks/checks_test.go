package checks_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/checks"
	"github.com/org/erlmcp-deploy/internal/erlmcpd"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

const sample = `checks:
  - name: echo json
    method: post
    path: /api/echo
    headers:
      Authorization: "Bearer ${API_TOKEN}"
    json: {hello: world, n: 3, list: [1, 2]}
    expect:
      status: 200
      headers: {Content-Type: application/json, X-Erlmcp-Echo: "1"}
      json:
        - {path: $.json.hello, op: "==", value: world}
        - {path: $.json.n, op: ">", value: 2}
        - {path: $.json.n, op: "<", value: 3.5}
        - {path: $.json.n, op: "!=", value: 4}
        - {path: $.json.list, op: "==", value: [1, 2]}
        - {path: $.headers.Authorization, op: matches, value: "^Bearer t0k"}
        - {path: $.method, op: exists}
        - {path: $.nope, op: not-exists}
      max-time: 2s
  - name: health
    url: ${BASE}/health
    expect:
      status: [200, 204]
      json:
        - {path: "$.checks[0].name", op: "==", value: registry}
        - {path: $.summary.total, op: ">=", value: 3}
`

func TestParse(t *testing.T) {
	f, secrets, err := checks.Parse([]byte(sample), env(map[string]string{"API_TOKEN": "t0ken-123", "BASE": "http://127.0.0.1:1"}))
	require.NoError(t, err)
	require.Len(t, f.Checks, 2)
	assert.Equal(t, "POST", f.Checks[0].Method)
	assert.Equal(t, "Bearer t0ken-123", f.Checks[0].Headers["Authorization"])
	assert.Equal(t, "http://127.0.0.1:1/health", f.Checks[1].URL)
	assert.Equal(t, checks.StatusList{200, 204}, f.Checks[1].Expect.Status)
	assert.Equal(t, 2, f.Checks[0].Line)
	assert.Equal(t, 21, f.Checks[1].Line)
	assert.Equal(t, []string{"t0ken-123", "http://127.0.0.1:1"}, secrets)
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown key", "checks:\n  - name: a\n    path: /\n    expct: {status: 200}\n", "line 4: field expct not found"},
		{"unknown nested key", "checks:\n  - name: a\n    path: /\n    expect:\n      stauts: 200\n", "line 5: field stauts not found"},
		{"unset env", "checks:\n  - name: a\n    path: /\n    headers: {X: \"${NOPE}\"}\n", "line 4: ${NOPE} is not set"},
		{"bad op", "checks:\n  - name: a\n    path: /\n    expect:\n      json: [{path: $.a, op: '=~'}]\n", `line 2: check a: expect.json[0]: op "=~" is not one of`},
		{"bad path", "checks:\n  - name: a\n    path: /\n    expect:\n      json: [{path: a.b, op: exists}]\n", `path "a.b" is not a JSONPath`},
		{"bad status", "checks:\n  - name: a\n    path: /\n    expect: {status: 42}\n", `line 4: status "42" is not an HTTP status code`},
		{"bad duration", "checks:\n  - name: a\n    path: /\n    expect: {max-time: soon}\n", `line 4: "soon" is not a duration`},
		{"no path", "checks:\n  - name: a\n", "path or url is required"},
		{"relative path", "checks:\n  - name: a\n    path: health\n", `path "health" must start with /`},
		{"no name", "checks:\n  - path: /\n", "name is required"},
		{"empty", "", "checks file is empty"},
		{"no checks", "checks: []\n", "no checks"},
		{"retry without bound", "checks:\n  - name: a\n    path: /\n    retry: {interval: 1s}\n", "retry needs attempts or budget"},
		{"bad regexp", "checks:\n  - name: a\n    path: /\n    expect:\n      json: [{path: $.a, op: matches, value: '('}]\n", "missing closing )"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := checks.Parse([]byte(tt.yaml), env(nil))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestEnvInNumericField(t *testing.T) {
	f, _, err := checks.Parse([]byte("checks:\n  - name: a\n    path: /\n    expect: {status: \"${CODE}\", max-time: \"${MAX}\"}\n    retry: {attempts: 2}\n"),
		env(map[string]string{"CODE": "204", "MAX": "750ms"}))
	require.NoError(t, err)
	assert.Equal(t, checks.StatusList{204}, f.Checks[0].Expect.Status)
	assert.Equal(t, checks.Duration(750*time.Millisecond), f.Checks[0].Expect.MaxTime)
}

func TestRun(t *testing.T) {
	srv := httptest.NewServer(erlmcpd.New(erlmcpd.Options{}))
	defer srv.Close()
	f, _, err := checks.Parse([]byte(sample), env(map[string]string{"API_TOKEN": "t0ken-123", "BASE": srv.URL}))
	require.NoError(t, err)
	r := &checks.Runner{BaseURL: srv.URL, Headers: http.Header{"X-Global": {"g"}}}
	for _, c := range f.Checks {
		out := r.Run(context.Background(), c)
		assert.True(t, out.Passed, "%s: %s", c.Name, out.Detail)
		assert.Equal(t, 200, out.Status)
		assert.Equal(t, 1, out.Attempts)
	}
}

func TestRunFailures(t *testing.T) {
	srv := httptest.NewServer(erlmcpd.New(erlmcpd.Options{PathLatency: map[string]time.Duration{"/health/live": 150 * time.Millisecond}}))
	defer srv.Close()
	yaml := `checks:
  - name: wrong status and json
    method: POST
    path: /api/echo
    json: {a: 1, s: "xyz"}
    expect:
      status: 201
      headers: {Content-Type: text/html, X-Missing: ""}
      json:
        - {path: $.json.a, op: "==", value: 2}
        - {path: $.json.a, op: ">", value: 5}
        - {path: $.json.s, op: matches, value: "^abc"}
        - {path: $.json.b, op: exists}
        - {path: $.json.s, op: "<", value: 3}
  - name: slow
    path: /health/live
    expect: {max-time: 50ms}
  - name: not json
    path: /dashboard
    expect:
      json: [{path: $.a, op: exists}]
`
	f, _, err := checks.Parse([]byte(yaml), nil)
	require.NoError(t, err)
	r := &checks.Runner{BaseURL: srv.URL}
	out := r.Run(context.Background(), f.Checks[0])
	assert.False(t, out.Passed)
	for _, want := range []string{
		"status 200, want 201",
		`header Content-Type is "application/json", want it to contain "text/html"`,
		"header X-Missing missing",
		"$.json.a is 1, want == 2",
		"$.json.a is 1, want > 5",
		`$.json.s is "xyz", want matches "^abc"`,
		"$.json.b does not exist",
		`$.json.s is "xyz", cannot compare with 3`,
	} {
		assert.Contains(t, out.Detail, want)
	}
	out = r.Run(context.Background(), f.Checks[1])
	assert.False(t, out.Passed)
	assert.Regexp(t, `took 1\d\dms, over max-time 50ms`, out.Detail)
	out = r.Run(context.Background(), f.Checks[2])
	assert.False(t, out.Passed)
	assert.Contains(t, out.Detail, "body is not JSON: invalid character '<'")
}

func TestRetryUntilPasses(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	f, _, err := checks.Parse([]byte("checks:\n  - name: eventually\n    path: /\n    expect: {json: [{path: $.ok, op: '==', value: true}]}\n    retry: {attempts: 5, interval: 10ms}\n"), nil)
	require.NoError(t, err)
	out := (&checks.Runner{BaseURL: srv.URL}).Run(context.Background(), f.Checks[0])
	assert.True(t, out.Passed, out.Detail)
	assert.Equal(t, 3, out.Attempts)

	n.Store(-100)
	out = (&checks.Runner{BaseURL: srv.URL}).Run(context.Background(), f.Checks[0])
	assert.False(t, out.Passed)
	assert.Equal(t, 5, out.Attempts)
	assert.True(t, strings.HasPrefix(out.Detail, "after 5 attempts in "), out.Detail)
	assert.Contains(t, out.Detail, "status 503, want 2xx")

	// A budget bounds the retries in time.
	f, _, err = checks.Parse([]byte("checks:\n  - name: budget\n    path: /\n    retry: {budget: 200ms, interval: 20ms}\n"), nil)
	require.NoError(t, err)
	n.Store(-1000)
	t0 := time.Now()
	out = (&checks.Runner{BaseURL: srv.URL}).Run(context.Background(), f.Checks[0])
	assert.False(t, out.Passed)
	assert.Less(t, time.Since(t0), time.Second)
	assert.Greater(t, out.Attempts, 2)
}

func TestBodyLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(make([]byte, 4096))
	}))
	defer srv.Close()
	f, _, err := checks.Parse([]byte("checks:\n  - name: big\n    path: /\n"), nil)
	require.NoError(t, err)
	out := (&checks.Runner{BaseURL: srv.URL, BodyLimit: 1024}).Run(context.Background(), f.Checks[0])
	assert.False(t, out.Passed)
	assert.Contains(t, out.Detail, "body too large: more than 1 KiB, stopped reading")
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("checks:\n  - name: a\n    path: /\n    expect: {status: [200, \"${X}\"]}\n"))
	f.Add([]byte("checks:\n  - name: a\n    url: http://x\n    retry: {attempts: 2, interval: 1s, budget: 3}\n"))
	f.Add([]byte("checks: {a: b}"))
	f.Add([]byte("- 1\n- 2"))
	f.Add([]byte("checks:\n  - name: a\n    path: /\n    expect:\n      json: [{path: '$[?(@.a > 1)]', op: exists}]\n"))
	f.Add([]byte("checks:\n  - name: a\n    path: /\n    json: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, _, err := checks.Parse(data, env(map[string]string{"X": "200"}))
		if err == nil && (file == nil || len(file.Checks) == 0) {
			t.Fatalf("no error but no checks")
		}
	})
}
