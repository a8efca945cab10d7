package deploy_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/org/erlmcp-deploy/internal/canary"
	"github.com/org/erlmcp-deploy/internal/ghaction"
)

const canaryChecksFile = `checks:
  - name: version
    path: /version
    expect:
      status: 200
      json:
        - {path: $.version, op: "==", value: "1.1.0"}
`

// canaryTarget is target's namespace where port 8080 of every pod created
// from now on (the canary's) leads to a local server answering /version with
// version; it returns the namespace, the kubeconfig and the server's hits.
func canaryTarget(t *testing.T, version string) (string, string, *atomic.Int64) {
	t.Helper()
	ns, kc, _ := target(t)
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"version":"` + version + `"}`))
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	remove, err := cluster.ForwardPods(ctx, ns, 8080, srv.Listener.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, remove()) })
	return ns, kc, &hits
}

func checksFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "canary-checks.yml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	return p
}

func stablePods(t *testing.T, ns string) []string {
	t.Helper()
	list, err := cluster.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=erlmcp,!" + canary.TrackLabel})
	require.NoError(t, err)
	var out []string
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p.Name)
		}
	}
	sort.Strings(out)
	return out
}

// TestDeployActionCanaryChecks: canary-checks runs the checks file in each
// canary step against the canary's pod, through a port-forward: a canary that
// answers as expected is promoted; one that does not is aborted, naming the
// check, with stable's image and pods untouched.
func TestDeployActionCanaryChecks(t *testing.T) {
	t.Parallel()
	t.Run("passing checks promote", func(t *testing.T) {
		t.Parallel()
		ns, kc, hits := canaryTarget(t, "1.1.0")
		s := runAction(t, map[string]string{"environment": "production", "namespace": ns, "kubeconfig": kc, "image": "ghcr.io/acme/erlmcp:1.1.0",
			"strategy": "canary", "canary-steps": "50", "canary-interval": "1s", "canary-analysis-count": "2", "canary-checks": checksFile(t, canaryChecksFile)})
		require.Equal(t, 0, s.Code, s.Log)
		assert.Equal(t, "succeeded", s.Output("status"))
		assert.Contains(t, s.Log, "::group::Canary checks: 1 check(s) against deployment/erlmcp-canary:8080")
		assert.Regexp(t, `port-forward: deployment erlmcp-canary → pod erlmcp-canary-\S+ port 8080`, s.Log)
		assert.Contains(t, s.Log, "✓ check: version")
		assert.Positive(t, hits.Load(), "the checks went through the forward")
		d, err := cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "erlmcp", metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, "ghcr.io/acme/erlmcp:1.1.0", d.Spec.Template.Spec.Containers[0].Image, "promoted")
		_, err = cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "erlmcp-canary", metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "the canary is removed: %v", err)
	})
	t.Run("a failed check aborts", func(t *testing.T) {
		t.Parallel()
		ns, kc, hits := canaryTarget(t, "1.0.0")
		before := stablePods(t, ns)
		s := runAction(t, map[string]string{"environment": "production", "namespace": ns, "kubeconfig": kc, "image": "ghcr.io/acme/erlmcp:1.1.0",
			"strategy": "canary", "canary-steps": "50", "canary-interval": "1s", "canary-analysis-count": "2", "canary-checks": checksFile(t, canaryChecksFile)})
		assert.Equal(t, ghaction.ExitFailed, s.Code, s.Log)
		assert.Equal(t, "aborted", s.Output("status"))
		assert.Contains(t, s.Log, "✗ check: version")
		assert.Regexp(t, `step 1 \(50%(25)?\): canary checks failed: 1 of 1 against pod erlmcp-canary-\S+ failed: version: `, s.Log)
		assert.Positive(t, hits.Load())
		d, err := cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "erlmcp", metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, v1, d.Spec.Template.Spec.Containers[0].Image, "stable untouched")
		assert.Equal(t, before, stablePods(t, ns), "stable's pods were never replaced")
		_, err = cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "erlmcp-canary", metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "the canary is deleted: %v", err)
	})
}

func TestDeployActionCanaryChecksBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	ns, kc, _ := target(t)
	withURL := checksFile(t, "checks:\n  - name: health\n    path: /health\n  - name: elsewhere\n    url: http://example.test/health\n")
	for _, tc := range []struct {
		name   string
		inputs map[string]string
		want   string
	}{
		{"missing checks file", map[string]string{"canary-checks": filepath.Join(t.TempDir(), "missing.yml")}, "::error title=Invalid input canary-checks::"},
		{"a check with url", map[string]string{"canary-checks": withURL}, "::error file=" + withURL + ",line=4,title=Invalid input canary-checks::check elsewhere has url:"},
		{"port", map[string]string{"canary-checks": checksFile(t, canaryChecksFile), "canary-port": "no_such!port"}, "::error title=Invalid input canary-port::"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := map[string]string{"environment": "production", "namespace": ns, "kubeconfig": kc, "image": "ghcr.io/acme/erlmcp:1.1.0", "strategy": "canary"}
			for k, v := range tc.inputs {
				in[k] = v
			}
			s := runAction(t, in)
			assert.Equal(t, ghaction.ExitBadInput, s.Code, s.Log)
			assert.Contains(t, s.Log, tc.want)
		})
	}
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, v1, d.Spec.Template.Spec.Containers[0].Image, "nothing changed")
	_, err = cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "erlmcp-canary", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "no canary: %v", err)
}
