package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/org/erlmcp-deploy/internal/canary"
	"github.com/org/erlmcp-deploy/internal/ghaction"
)

// TestDeployActionReleaseCanary: a release's canary is its changed
// Deployments, each next to its stable one on the release's template. A
// doomed dashboard aborts it with nothing of the release applied (and the
// ConfigMap it added removed again); a good release passes the steps and
// is applied as a whole.
func TestDeployActionReleaseCanary(t *testing.T) {
	t.Parallel()
	ns, kc, _ := emptyTarget(t)
	ctx := context.Background()
	dir := exampleRelease(t)
	in := map[string]string{"environment": "production", "namespace": ns, "kubeconfig": kc, "manifests": dir,
		"image": "ghcr.io/acme/erlmcp:1.1.0", "images": "ghcr.io/acme/erlmcp-dashboard=ghcr.io/acme/erlmcp-dashboard:1.1.0"}
	s := runAction(t, in)
	require.Equal(t, 0, s.Code, s.Log)

	// The next release adds a ConfigMap under a new name (as kustomize's configMapGenerator does) and mounts it.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config-v2.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: erlmcp-config-v2\ndata:\n  sys.config: \"[].\"\n"), 0o644))
	dep, err := os.ReadFile(filepath.Join(dir, "deployment.yaml"))
	require.NoError(t, err)
	require.Contains(t, string(dep), "configMap: {name: erlmcp-config}")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "deployment.yaml"), []byte(strings.Replace(string(dep), "configMap: {name: erlmcp-config}", "configMap: {name: erlmcp-config-v2}", 1)), 0o644))

	in["strategy"], in["canary-steps"], in["canary-interval"], in["canary-analysis-count"] = "canary", "25,50", "1s", "1"
	in["image"], in["images"] = "ghcr.io/acme/erlmcp:1.2.0", "ghcr.io/acme/erlmcp-dashboard=ghcr.io/acme/erlmcp-dashboard:1.2.0-fault-crashloop"

	// A decision with no canary waiting for one is bad input, found before anything changes (before, a panic after
	// the release's new ConfigMap was created).
	in["canary-decision"] = "promote"
	s = runAction(t, in)
	assert.Equal(t, ghaction.ExitBadInput, s.Code, s.Log)
	assert.Contains(t, s.Log, "::error title=Invalid input canary-decision::no canary of deployment erlmcp waits for a decision")
	_, err = cluster.Client.CoreV1().ConfigMaps(ns).Get(ctx, "erlmcp-config-v2", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "nothing was created: %v", err)
	assertNoCanaries(t, ns)
	delete(in, "canary-decision")

	s = runAction(t, in)
	if os.Getenv("SHOW_LOG") != "" {
		t.Log(s.Log)
	}
	assert.Equal(t, ghaction.ExitFailed, s.Code, s.Log)
	assert.Equal(t, "aborted", s.Output("status"))
	assert.Contains(t, s.Output("failure-reason"), "erlmcp-dashboard-canary")
	assert.Contains(t, s.Log, "canary of erlmcp: deployment/erlmcp, deployment/erlmcp-dashboard")
	assert.Contains(t, s.Log, "created ConfigMap/erlmcp-config-v2")
	assert.Contains(t, s.Summary, "Canary of release erlmcp aborted in production: nothing of it was applied")
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.1.0", image(t, ns, "erlmcp"), "stable was never touched")
	assert.Equal(t, "ghcr.io/acme/erlmcp-dashboard:1.1.0", image(t, ns, "erlmcp-dashboard"), "stable was never touched")
	assertNoCanaries(t, ns)
	_, err = cluster.Client.CoreV1().ConfigMaps(ns).Get(ctx, "erlmcp-config-v2", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the ConfigMap the aborted release added is removed again: %v", err)
	secrets, err := cluster.Client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, sec := range secrets.Items {
		assert.NotEqual(t, "erlmcp-deploy.release.erlmcp.v2", sec.Name, "an aborted canary records no revision")
	}

	// The twin: the same release with a good dashboard passes both steps and is applied as a whole.
	in["images"] = "ghcr.io/acme/erlmcp-dashboard=ghcr.io/acme/erlmcp-dashboard:1.2.0"
	s = runAction(t, in)
	require.Equal(t, 0, s.Code, s.Log)
	assert.Equal(t, "succeeded", s.Output("status"))
	assert.Equal(t, "2", s.Output("revision"))
	assert.Contains(t, s.Log, "canary step 2 (50%")
	assert.Contains(t, s.Summary, "### Canary")
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.2.0", image(t, ns, "erlmcp"))
	assert.Equal(t, "ghcr.io/acme/erlmcp-dashboard:1.2.0", image(t, ns, "erlmcp-dashboard"))
	assertNoCanaries(t, ns)
	_, err = cluster.Client.CoreV1().ConfigMaps(ns).Get(ctx, "erlmcp-config-v2", metav1.GetOptions{})
	assert.NoError(t, err)

	// Blue-green of a release is refused before anything changes.
	in["strategy"] = "blue-green"
	s = runAction(t, in)
	assert.Equal(t, ghaction.ExitBadInput, s.Code, s.Log)
	assert.Contains(t, s.Log, "::error title=Invalid input strategy::blue-green switches one Service")
}

func image(t *testing.T, ns, name string) string {
	t.Helper()
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return d.Spec.Template.Spec.Containers[0].Image
}

func assertNoCanaries(t *testing.T, ns string) {
	t.Helper()
	list, err := cluster.Client.AppsV1().Deployments(ns).List(context.Background(), metav1.ListOptions{LabelSelector: canary.TrackLabel})
	require.NoError(t, err)
	assert.Empty(t, list.Items, "no canary or baseline is left")
}
