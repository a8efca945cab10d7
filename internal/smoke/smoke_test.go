package smoke_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/checks"
	"github.com/org/erlmcp-deploy/internal/erlmcpd"
	"github.com/org/erlmcp-deploy/internal/loadgate"
	"github.com/org/erlmcp-deploy/internal/smoke"
)

func serve(t *testing.T, o erlmcpd.Options, wrap func(http.Handler) http.Handler) *httptest.Server {
	t.Helper()
	var h http.Handler = erlmcpd.New(o)
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func opts(base string) smoke.Options {
	return smoke.Options{BaseURL: base, MCPURL: base + "/mcp", Wait: 5 * time.Second, WaitInterval: 10 * time.Millisecond,
		MaxResponseTime: 2 * time.Second}
}

func run(t *testing.T, o smoke.Options) *smoke.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := smoke.Run(ctx, o)
	require.NoError(t, err)
	return res
}

func find(t *testing.T, r *smoke.Result, name string) smoke.Check {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	names := []string{}
	for _, c := range r.Checks {
		names = append(names, c.Name)
	}
	t.Fatalf("no check %q in %v", name, names)
	return smoke.Check{}
}

func TestHealthySuite(t *testing.T) {
	srv := serve(t, erlmcpd.Options{}, nil)
	o := opts(srv.URL)
	o.MCPExpectTools = []string{"echo", "add"}
	o.DashboardURL = "/dashboard"
	o.Headers = http.Header{"Authorization": {"Bearer x"}}
	res := run(t, o)
	for _, c := range res.Checks {
		assert.True(t, c.Passed, "%s: %s", c.Name, c.Detail)
		assert.False(t, c.Warning, "%s: %s", c.Name, c.Detail)
	}
	names := []string{}
	for _, c := range res.Checks {
		names = append(names, c.Name)
	}
	assert.Equal(t, []string{"wait for /health", "/health", "health: registry", "health: session_manager", "health: transport_http",
		"/health/ready", "/health/live", "/metrics", "MCP /mcp", "dashboard"}, names)
	assert.Contains(t, find(t, res, "/metrics").Detail, "erlmcp_requests_total")
	assert.Contains(t, find(t, res, "/metrics").Detail, "erlmcp_sessions_active")
	assert.Contains(t, find(t, res, "MCP /mcp").Detail, "erlmcp 0.0.0-test, protocol ")
	assert.Contains(t, find(t, res, "MCP /mcp").Detail, "tools: add, echo")
	assert.Equal(t, "status healthy (HTTP 200); 3/3 subsystems healthy, 0 unhealthy", find(t, res, "/health").Detail)
	assert.True(t, res.OK())
}

func TestDegraded(t *testing.T) {
	srv := serve(t, erlmcpd.Options{Status: erlmcpd.Degraded}, nil)
	res := run(t, opts(srv.URL))
	h := find(t, res, "/health")
	assert.True(t, h.Passed)
	assert.True(t, h.Warning)
	assert.Contains(t, h.Detail, "status degraded (HTTP 200)")
	sm := find(t, res, "health: session_manager")
	assert.True(t, sm.Warning)
	assert.Equal(t, "degraded: session table 92% full (warning; fail-on-degraded is off)", sm.Detail)
	assert.True(t, res.OK())

	o := opts(srv.URL)
	o.FailOnDegraded = true
	res = run(t, o)
	assert.False(t, find(t, res, "/health").Passed)
	assert.Equal(t, "degraded: session table 92% full (fail-on-degraded)", find(t, res, "health: session_manager").Detail)
	assert.Equal(t, []string{"/health", "health: session_manager"}, res.FailedNames())
}

func TestUnhealthyFailsAfterWait(t *testing.T) {
	srv := serve(t, erlmcpd.Options{Status: erlmcpd.Unhealthy}, nil)
	o := opts(srv.URL)
	o.Wait = 300 * time.Millisecond
	t0 := time.Now()
	res := run(t, o)
	assert.Less(t, time.Since(t0), 3*time.Second)
	w := find(t, res, "wait for /health")
	assert.False(t, w.Passed)
	assert.Contains(t, w.Detail, "not healthy within wait 300ms: health check "+srv.URL+"/health: not healthy after ")
	assert.Contains(t, w.Detail, `last answer 503 Service Unavailable: {"status":"unhealthy"`)
	assert.Equal(t, "unhealthy: registry process down", find(t, res, "health: registry").Detail)
	assert.Contains(t, find(t, res, "/health").Detail, "status unhealthy (HTTP 503); 2/3 subsystems healthy, 1 unhealthy")
	assert.False(t, res.OK())
	// Nothing else ran.
	assert.Len(t, res.Checks, 5)
}

func TestHealthyAfter503s(t *testing.T) {
	srv := serve(t, erlmcpd.Options{FailFirst: 3}, nil)
	res := run(t, opts(srv.URL))
	w := find(t, res, "wait for /health")
	assert.True(t, w.Passed, w.Detail)
	assert.Contains(t, w.Detail, "answered 200 after 4 attempt(s)")
	assert.True(t, res.OK(), "%v", res.FailedNames())
}

func TestSlowResponse(t *testing.T) {
	srv := serve(t, erlmcpd.Options{PathLatency: map[string]time.Duration{"/health/ready": 150 * time.Millisecond}}, nil)
	o := opts(srv.URL)
	o.MaxResponseTime = 100 * time.Millisecond
	res := run(t, o)
	c := find(t, res, "/health/ready")
	assert.False(t, c.Passed)
	assert.Regexp(t, `^took \d+(\.\d)?ms, over max-response-time 100ms \(200 OK`, c.Detail)
	assert.Equal(t, []string{"/health/ready"}, res.FailedNames())
}

func TestMalformedHealthJSON(t *testing.T) {
	srv := serve(t, erlmcpd.Options{Bodies: map[string]string{"/health": `{"status": healthy}`}}, nil)
	res := run(t, opts(srv.URL))
	assert.Equal(t, "malformed /health JSON (HTTP 200): invalid character 'h' looking for beginning of value: {\"status\": healthy}",
		find(t, res, "/health").Detail)

	srv = serve(t, erlmcpd.Options{Bodies: map[string]string{"/health": `{"checks": []}`}}, nil)
	res = run(t, opts(srv.URL))
	assert.Equal(t, `malformed /health JSON (HTTP 200): no "status" field: {"checks": []}`, find(t, res, "/health").Detail)
}

func TestMalformedMetrics(t *testing.T) {
	bad := "# TYPE erlmcp_requests_total counter\nerlmcp_requests_total{path=\"/mcp\" 3\n"
	srv := serve(t, erlmcpd.Options{Bodies: map[string]string{"/metrics": bad}}, nil)
	res := run(t, opts(srv.URL))
	p := expfmt.NewTextParser(model.UTF8Validation)
	_, perr := p.TextToMetricFamilies(strings.NewReader(bad))
	require.Error(t, perr)
	c := find(t, res, "/metrics")
	assert.False(t, c.Passed)
	assert.Equal(t, "malformed Prometheus exposition: "+perr.Error(), c.Detail)
	assert.Contains(t, c.Detail, "line 2")
}

func TestMCPMissingTool(t *testing.T) {
	srv := serve(t, erlmcpd.Options{Tools: []string{"echo"}}, nil)
	o := opts(srv.URL)
	o.MCPExpectTools = []string{"echo", "add"}
	res := run(t, o)
	assert.Equal(t, "tools/list lacks expected tool(s) add (server offers: echo)", find(t, res, "MCP /mcp").Detail)
	assert.Equal(t, []string{"MCP /mcp"}, res.FailedNames())
}

func TestTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(erlmcpd.New(erlmcpd.Options{}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	srv.StartTLS()
	defer srv.Close()
	o := opts(srv.URL)
	o.Wait = 2 * time.Second
	res := run(t, o)
	w := find(t, res, "wait for /health")
	assert.False(t, w.Passed)
	assert.Contains(t, w.Detail, "x509: certificate signed by unknown authority")

	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))
	o.CAFile = ca
	res = run(t, o)
	assert.True(t, res.OK(), "%v", res.Checks)

	o.CAFile = ""
	o.InsecureSkipVerify = true
	res = run(t, o)
	assert.True(t, res.OK(), "%v", res.Checks)

	o.CAFile = filepath.Join(t.TempDir(), "missing.pem")
	_, err := smoke.Run(context.Background(), o)
	assert.ErrorContains(t, err, "ca-file: open ")
	require.NoError(t, os.WriteFile(o.CAFile, []byte("not pem"), 0o600))
	_, err = smoke.Run(context.Background(), o)
	assert.ErrorContains(t, err, "no PEM certificate found")
}

func TestRedirectLoop(t *testing.T) {
	srv := serve(t, erlmcpd.Options{}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/a":
				http.Redirect(w, r, "/b", http.StatusFound)
			case "/b":
				http.Redirect(w, r, "/a", http.StatusFound)
			default:
				h.ServeHTTP(w, r)
			}
		})
	})
	o := opts(srv.URL)
	o.DashboardURL = srv.URL + "/a"
	res := run(t, o)
	c := find(t, res, "dashboard")
	assert.False(t, c.Passed)
	assert.Equal(t, "GET "+srv.URL+"/a: redirect loop: "+srv.URL+"/b redirects back to "+srv.URL+"/a after 2 redirect(s)", c.Detail)
}

func TestHugeBodyIsBounded(t *testing.T) {
	var written atomic.Int64
	srv := serve(t, erlmcpd.Options{}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/health/live" {
				h.ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Length", "104857600")
			chunk := bytes.Repeat([]byte("x"), 64<<10)
			for i := 0; i < 1600; i++ { // 100 MiB
				n, err := w.Write(chunk)
				written.Add(int64(n))
				if err != nil {
					return
				}
			}
		})
	})
	t0 := time.Now()
	res := run(t, opts(srv.URL))
	c := find(t, res, "/health/live")
	assert.False(t, c.Passed)
	assert.Equal(t, "GET "+srv.URL+"/health/live: body too large: more than 10 MiB, stopped reading", c.Detail)
	assert.Less(t, time.Since(t0), 10*time.Second)
	srv.CloseClientConnections()
	time.Sleep(50 * time.Millisecond)
	assert.Less(t, written.Load(), int64(60<<20), "the 100 MiB body was not read whole")
}

func TestConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	o := opts(base)
	o.Wait = 200 * time.Millisecond
	res := run(t, o)
	require.Len(t, res.Checks, 1)
	assert.Contains(t, res.Checks[0].Detail, "not healthy within wait 200ms")
	assert.Contains(t, res.Checks[0].Detail, "connect: connection refused")
}

func TestChecksFileAndLoadGate(t *testing.T) {
	srv := serve(t, erlmcpd.Options{}, nil)
	f, _, err := checks.Parse([]byte(`checks:
  - name: echo
    method: POST
    path: /api/echo
    json: {x: 1}
    expect:
      json: [{path: $.json.x, op: "==", value: 1}]
  - name: wrong
    path: /api/echo
    expect: {status: 404}
`), nil)
	require.NoError(t, err)
	zero := 0.0
	o := opts(srv.URL)
	o.Suite = smoke.SuiteNone
	o.Checks = f.Checks
	o.Load = &smoke.LoadOptions{URL: srv.URL + "/health/live", Duration: 300 * time.Millisecond, Concurrency: 2, Gates: loadgate.Gates{P99: time.Second, MaxErrorRate: &zero}}
	res := run(t, o)
	assert.Equal(t, []string{"wait for base URL", "check: echo", "check: wrong", "load gate"}, names(res))
	assert.True(t, find(t, res, "check: echo").Passed)
	assert.Equal(t, "status 200, want 404", find(t, res, "check: wrong").Detail)
	lg := find(t, res, "load gate")
	assert.True(t, lg.Passed, lg.Detail)
	require.NotNil(t, res.Load)
	assert.Equal(t, srv.URL+"/health/live", res.Load.URL)
	assert.Positive(t, res.Load.Requests)

	o.Checks = nil
	o.Load.Gates = loadgate.Gates{MinRPS: 1e9}
	res = run(t, o)
	lg = find(t, res, "load gate")
	assert.False(t, lg.Passed)
	assert.Regexp(t, `^throughput \d+\.\d req/s < 1e\+09 req/s \(closed-loop: `, lg.Detail)
}

func names(r *smoke.Result) []string {
	var out []string
	for _, c := range r.Checks {
		out = append(out, c.Name)
	}
	return out
}

func TestReports(t *testing.T) {
	srv := serve(t, erlmcpd.Options{Status: erlmcpd.Degraded}, nil)
	o := opts(srv.URL)
	o.FailOnDegraded = true
	o.Environment = "staging"
	o.Load = &smoke.LoadOptions{Duration: 100 * time.Millisecond, Concurrency: 1}
	res := run(t, o)
	dir := filepath.Join(t.TempDir(), "reports")
	jp, xp, err := smoke.WriteReports(dir, res)
	require.NoError(t, err)

	var js smoke.JSONReport
	data, err := os.ReadFile(jp)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &js))
	assert.False(t, js.OK)
	assert.Equal(t, len(res.Checks), js.Total)
	assert.Equal(t, 2, js.Failed)
	require.NotNil(t, js.Load)
	assert.Positive(t, js.Load.Requests)
	require.NotNil(t, js.MCP)

	var ju smoke.JUnitSuites
	data, err = os.ReadFile(xp)
	require.NoError(t, err)
	require.NoError(t, xml.Unmarshal(data, &ju))
	require.Len(t, ju.Suites, 1)
	assert.Equal(t, "erlmcp smoke (staging)", ju.Suites[0].Name)
	assert.Equal(t, 2, ju.Failures)
	failed := 0
	for _, c := range ju.Suites[0].Cases {
		if c.Failure != nil {
			failed++
			assert.NotEmpty(t, c.Failure.Message)
		}
	}
	assert.Equal(t, 2, failed)
}

func TestResolveURL(t *testing.T) {
	u, err := smoke.ResolveURL("https://h/base/", "/mcp")
	require.NoError(t, err)
	assert.Equal(t, "https://h/base/mcp", u)
	u, err = smoke.ResolveURL("https://h", "http://other:8080/mcp")
	require.NoError(t, err)
	assert.Equal(t, "http://other:8080/mcp", u)
	_, err = smoke.ResolveURL("https://h", "mcp")
	assert.EqualError(t, err, `"mcp" is neither a path starting with / nor an http(s) URL`)
}

// TestConnectToKeepsTheBaseURL: with ConnectTo (a port-forward's local
// address) every check — wait, suite, MCP, dashboard, checks file, load gate —
// connects there, while requests keep the base URL's Host; an https base URL
// keeps its TLS server name, so the certificate is verified for it.
func TestConnectToKeepsTheBaseURL(t *testing.T) {
	var hosts sync.Map
	var n atomic.Int64
	record := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hosts.Store(r.Host, true)
			n.Add(1)
			h.ServeHTTP(w, r)
		})
	}
	srv := serve(t, erlmcpd.Options{}, record)
	base := "http://erlmcp.staging.example.test:8080" // .test never resolves: only ConnectTo reaches it
	o := opts(base)
	o.ConnectTo = srv.Listener.Addr().String()
	// No MCP check: the go-sdk server behind erlmcpd refuses a Host that is not
	// loopback on a loopback connection (DNS-rebinding protection), as it
	// would through a real port-forward (see TestConnectToAndDNSRebindingProtection).
	o.MCPURL = ""
	o.DashboardURL = "/dashboard"
	o.Checks = []checks.Check{{Name: "echo", Method: http.MethodPost, Path: "/api/echo", JSON: map[string]any{"ping": "pong"},
		Expect: checks.Expect{Status: []int{200}}}}
	o.Load = &smoke.LoadOptions{Duration: 200 * time.Millisecond, Concurrency: 2}
	res := run(t, o)
	for _, c := range res.Checks {
		assert.True(t, c.Passed, "%s: %s", c.Name, c.Detail)
	}
	require.NotNil(t, res.Load)
	assert.Zero(t, res.Load.Errors)
	assert.Greater(t, n.Load(), res.Load.Requests-1, "the load gate went through ConnectTo too")
	var seen []string
	hosts.Range(func(k, _ any) bool { seen = append(seen, k.(string)); return true })
	assert.Equal(t, []string{"erlmcp.staging.example.test:8080"}, seen)

	tlsSrv := httptest.NewUnstartedServer(erlmcpd.New(erlmcpd.Options{}))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}), 0o600))
	o = opts("https://example.com") // a name the test certificate holds
	o.ConnectTo, o.CAFile, o.MCPURL = tlsSrv.Listener.Addr().String(), ca, ""
	res = run(t, o)
	assert.True(t, res.OK(), "%v", res.Checks)
	o = opts("https://erlmcp.example.test")
	o.ConnectTo, o.CAFile, o.Wait = tlsSrv.Listener.Addr().String(), ca, 0
	res = run(t, o)
	assert.Contains(t, find(t, res, "wait for /health").Detail, "certificate is valid for", "verified for the base URL's name, not the forward's")
}

// TestConnectToAndDNSRebindingProtection: an MCP server with DNS-rebinding
// protection (the go-sdk's default) refuses a connection that arrives on
// loopback — as a port-forwarded one does in the pod — with a Host that is
// not loopback; the check says so. With the forward's own address as the
// base URL (port-forward without base-url), it passes.
func TestConnectToAndDNSRebindingProtection(t *testing.T) {
	srv := serve(t, erlmcpd.Options{}, nil)
	o := opts("http://erlmcp.example.test")
	o.ConnectTo = srv.Listener.Addr().String()
	res := run(t, o)
	assert.Contains(t, find(t, res, "MCP /mcp").Detail, `403 Forbidden`)
	assert.Contains(t, find(t, res, "MCP /mcp").Detail, `invalid Host header "erlmcp.example.test"`)
	res = run(t, opts(srv.URL))
	assert.True(t, find(t, res, "MCP /mcp").Passed)
}
