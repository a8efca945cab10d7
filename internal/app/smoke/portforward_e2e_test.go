package smoke_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/erlmcpd"
	"github.com/org/erlmcp-deploy/internal/testcluster"
)

// erlmcpPod is an erlmcp-like server standing in for a pod's port 8080: it
// counts requests and records their Host headers.
type erlmcpPod struct {
	srv   *httptest.Server
	hits  atomic.Int64
	mu    sync.Mutex
	hosts map[string]int
}

func newErlmcpPod(t *testing.T) *erlmcpPod {
	p := &erlmcpPod{hosts: map[string]int{}}
	erl := erlmcpd.New(erlmcpd.Options{})
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		p.mu.Lock()
		p.hosts[r.Host]++
		p.mu.Unlock()
		erl.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *erlmcpPod) seenHosts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for h := range p.hosts {
		out = append(out, h)
	}
	return out
}

// privateService is a namespace as a private cluster has it: Service erlmcp
// (port 8080 → targetPort http) selecting the pods of Deployment erlmcp
// (image, container port http 8080), whose port 8080 kwok hands to `to` —
// reachable only through the API server. It returns the namespace and the
// deploy identity of examples/kubernetes/rbac.yaml in it.
func privateService(t *testing.T, c *testcluster.Cluster, ns, image, to string, available bool) *testcluster.Identity {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id, err := c.Deployer(ctx, ns)
	require.NoError(t, err)
	remove, err := c.PrivateService(ctx, ns, image, to, available)
	if remove != nil {
		t.Cleanup(func() { assert.NoError(t, remove()) })
	}
	require.NoError(t, err)
	return id
}

var listening = regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`)

// TestPortForward: the smoke action reaches a service that only the API
// server can reach (a private cluster), with only a kubeconfig — the deploy
// identity's — as `kubectl port-forward svc/erlmcp 8080:8080` would, and
// passes every erlmcp check (health, metrics, MCP, dashboard, checks file,
// load gate) against the pod's port, served here by a local erlmcp-like
// server. Its twins: no Ready pod behind the Service fails the smoke test
// and says so; a Service port that does not exist is an invalid input, and
// nothing is tested.
func TestPortForward(t *testing.T) {
	c := testcluster.Start(t)
	checksFile := filepath.Join(t.TempDir(), "checks.yml")
	require.NoError(t, os.WriteFile(checksFile, []byte(`checks:
  - name: echo
    method: POST
    path: /api/echo
    json: {ping: pong}
    expect:
      status: 200
      json:
        - {path: $.json.ping, op: "==", value: pong}
`), 0o644))

	t.Run("svc/erlmcp:8080 passes every erlmcp check", func(t *testing.T) {
		pod := newErlmcpPod(t)
		id := privateService(t, c, "smoke-pf", "ghcr.io/acme/erlmcp:1.0.0", pod.srv.Listener.Addr().String(), true)
		kubeconfig, err := os.ReadFile(id.Kubeconfig)
		require.NoError(t, err)
		reports := filepath.Join(t.TempDir(), "reports")
		r := action(t, map[string]string{
			"port-forward": "svc/erlmcp:8080", "namespace": "smoke-pf", "kubeconfig": string(kubeconfig), "environment": "staging",
			"mcp-expect-tools": "echo, add", "dashboard-url": "/dashboard", "checks-file": checksFile, "report-dir": reports,
			"wait": "10s", "max-response-time": "2s",
			"load-duration": "1s", "load-concurrency": "4", "load-max-error-rate": "0", "load-p99": "1s",
		}, nil)
		require.Equal(t, 0, r.code, r.log)
		assert.Equal(t, "0", r.outputs["failed"])
		assert.Equal(t, r.outputs["total"], r.outputs["passed"])
		total, err := strconv.Atoi(r.outputs["total"])
		require.NoError(t, err)
		assert.Equal(t, 13, total, "port-forward, wait, /health + 3 subsystems, ready, live, metrics, MCP, dashboard, checks file, load gate")
		assert.Regexp(t, `✓ port-forward: service erlmcp port 8080 \(http\) → targetPort http → pod erlmcp-\S+ port 8080, over SPDY; listening on 127\.0\.0\.1:\d+`, r.log)
		for _, check := range []string{"/metrics", "MCP /mcp", "dashboard", "check: echo", "load gate"} {
			assert.Contains(t, r.log, "✓ "+check, check)
		}
		assert.Contains(t, r.summary, "Smoke test of staging passed (13/13)")
		assert.Contains(t, r.summary, "| port-forward | ✅ pass |")
		m := listening.FindStringSubmatch(r.log)
		require.Len(t, m, 2)
		assert.Equal(t, []string{m[1]}, pod.seenHosts(), "requests went to http://%s, Host and all", m[1])
		assert.Greater(t, pod.hits.Load(), int64(100), "the load gate's requests went through the forward too")
		rps, err := strconv.ParseFloat(r.outputs["rps"], 64)
		require.NoError(t, err)
		assert.Greater(t, rps, 0.0)
		assert.Equal(t, "0.0000", r.outputs["error-rate"])
		_, err = net.DialTimeout("tcp", m[1], time.Second)
		assert.Error(t, err, "the forward is closed when the action ends")
		noLeak(t, "log", r.log, id.Token)
		noLeak(t, "summary", r.summary, id.Token)
		var rep map[string]any
		b, err := os.ReadFile(r.outputs["report"])
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &rep))
		assert.Equal(t, "http://"+m[1], rep["base_url"])
	})

	t.Run("deployment/erlmcp:http with base-url keeps its Host", func(t *testing.T) {
		pod := newErlmcpPod(t)
		id := privateService(t, c, "smoke-pf-host", "ghcr.io/acme/erlmcp:1.0.0", pod.srv.Listener.Addr().String(), true)
		env := map[string]string{"KUBECONFIG": id.Kubeconfig}
		in := map[string]string{"port-forward": "deployment/erlmcp:http", "namespace": "smoke-pf-host",
			"base-url": "http://erlmcp.staging.example.test:8080", "wait": "10s", "max-response-time": "2s"}
		// The MCP go-sdk server refuses a Host that is not loopback on a
		// loopback connection (DNS-rebinding protection), as a real pod's
		// would through a port-forward: the failure says what to do.
		r := action(t, in, env)
		assert.Equal(t, 1, r.code, r.log)
		assert.Contains(t, r.log, `invalid Host header "erlmcp.staging.example.test:8080"`)
		assert.Contains(t, r.log, "leave base-url empty to send Host 127.0.0.1:")
		in["mcp-path"] = ""
		r = action(t, in, env)
		require.Equal(t, 0, r.code, r.log)
		assert.Equal(t, []string{"erlmcp.staging.example.test:8080"}, pod.seenHosts())
		assert.Regexp(t, `✓ port-forward: deployment erlmcp → pod erlmcp-\S+ port 8080, over SPDY`, r.log)
		assert.Contains(t, r.summary, "Smoke test of http://erlmcp.staging.example.test:8080 through port-forward deployment/erlmcp:http (namespace smoke-pf-host) passed")
	})

	t.Run("no Ready pod behind the Service fails the smoke test", func(t *testing.T) {
		pod := newErlmcpPod(t)
		id := privateService(t, c, "smoke-pf-down", "ghcr.io/acme/erlmcp:fault-neverready", pod.srv.Listener.Addr().String(), false)
		reports := filepath.Join(t.TempDir(), "reports")
		r := action(t, map[string]string{"port-forward": "svc/erlmcp:8080", "namespace": "smoke-pf-down", "wait": "3s", "report-dir": reports},
			map[string]string{"KUBECONFIG": id.Kubeconfig})
		assert.Equal(t, 1, r.code, r.log)
		assert.Regexp(t, `::error::✗ port-forward: no Ready pod behind service erlmcp \(selector app=erlmcp\) within 3s: 1 pod\(s\): erlmcp-\S+ Running, not Ready`, r.log)
		assert.Contains(t, r.log, "::error::1 of 1 smoke checks failed: port-forward")
		assert.Equal(t, "1", r.outputs["failed"])
		assert.Equal(t, "1", r.outputs["total"])
		assert.Contains(t, r.summary, "| port-forward | ❌ fail |")
		assert.FileExists(t, r.outputs["junit"])
		assert.Zero(t, pod.hits.Load())
	})

	t.Run("a pod port nothing listens on fails the forward's check", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		closed := ln.Addr().String()
		require.NoError(t, ln.Close())
		id := privateService(t, c, "smoke-pf-refused", "ghcr.io/acme/erlmcp:1.0.0", closed, true)
		r := action(t, map[string]string{"port-forward": "svc/erlmcp:8080", "namespace": "smoke-pf-refused", "wait": "2s"},
			map[string]string{"KUBECONFIG": id.Kubeconfig})
		assert.Equal(t, 1, r.code, r.log)
		assert.Regexp(t, `::error::✗ port-forward: (\d+ connections failed, the first: )?port 8080 of pod erlmcp-\S+ refused the connection \(nothing listens there\?\); the kubelet said: .*connection refused`, r.log)
		assert.Contains(t, r.log, "::error::2 of 2 smoke checks failed: port-forward, wait for /health")
		assert.Contains(t, r.summary, "| port-forward | ❌ fail |")
	})

	t.Run("a Service port that does not exist is an invalid input", func(t *testing.T) {
		pod := newErlmcpPod(t)
		id := privateService(t, c, "smoke-pf-port", "ghcr.io/acme/erlmcp:1.0.0", pod.srv.Listener.Addr().String(), true)
		reports := filepath.Join(t.TempDir(), "reports")
		r := action(t, map[string]string{"port-forward": "svc/erlmcp:9090", "namespace": "smoke-pf-port", "report-dir": reports},
			map[string]string{"KUBECONFIG": id.Kubeconfig})
		assert.Equal(t, 2, r.code, r.log)
		assert.Contains(t, r.log, "::error title=Invalid input port-forward::svc/erlmcp:9090: service erlmcp has no port 9090; its ports are 8080 (http) (nothing was tested); accepted values: svc/<name>:<port>, deployment/<name>:<port> or pod/<name>:<port>")
		assert.Empty(t, r.outputs["total"], "no check ran")
		assert.NoDirExists(t, reports)
		assert.Zero(t, pod.hits.Load(), "nothing reached the service")
	})
}

// TestPortForwardInputIsCheckedFirst: a malformed port-forward, or neither
// it nor base-url, is an invalid input before any cluster is contacted.
func TestPortForwardInputIsCheckedFirst(t *testing.T) {
	for _, tc := range []struct {
		in   map[string]string
		want string
	}{
		{map[string]string{"port-forward": "erlmcp:8080"},
			`::error title=Invalid input port-forward::"erlmcp:8080" does not say what "erlmcp" is: write svc/erlmcp, deployment/erlmcp or pod/erlmcp; accepted values: svc/<name>:<port>`},
		{map[string]string{"port-forward": "svc/erlmcp:0"}, `::error title=Invalid input port-forward::"svc/erlmcp:0": port "0" is not a number from 1 to 65535`},
		{map[string]string{"port-forward": "ingress/erlmcp:80"}, `cannot forward to a "ingress"; only to a Service (svc), a Deployment or a Pod`},
		{map[string]string{}, "::error title=Invalid input base-url::is required unless port-forward is set"},
	} {
		// An unreachable cluster: were it contacted, the error would not be an input error.
		r := action(t, tc.in, map[string]string{"KUBECONFIG": filepath.Join(t.TempDir(), "none")})
		assert.Equal(t, 2, r.code, "%v: %s", tc.in, r.log)
		assert.Contains(t, r.log, tc.want, fmt.Sprint(tc.in))
		assert.NotContains(t, r.log, "cluster ", "no cluster contacted")
	}
}
