package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/org/erlmcp-deploy/internal/ghaction"
)

func TestDeployActionStrategyBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	ns, kc, _ := target(t)
	bad := filepath.Join(t.TempDir(), "analysis.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("metrics:\n  - name: errors\n    query: up\n    max: 1\n  - name: latency\n    query: up\n"), 0o644))
	good := filepath.Join(t.TempDir(), "analysis.yaml")
	require.NoError(t, os.WriteFile(good, []byte("metrics:\n  - name: errors\n    query: up\n    max: 1\n"), 0o644))
	for _, tc := range []struct {
		name   string
		inputs map[string]string
		want   string
	}{
		{"analysis error at its line", map[string]string{"strategy": "canary", "analysis": bad, "prometheus-url": "http://127.0.0.1:9"},
			"::error file=" + bad + ",line=5,title=Invalid input analysis::metric \"latency\" needs max, min or judge"},
		{"analysis without prometheus", map[string]string{"strategy": "canary", "analysis": good}, "::error title=Invalid input prometheus-url::is required with analysis"},
		{"steps", map[string]string{"strategy": "canary", "canary-steps": "50,10"}, "::error title=Invalid input canary-steps::steps must increase"},
		{"unknown strategy", map[string]string{"strategy": "shadow"}, "::error title=Invalid input strategy::"},
		{"decision", map[string]string{"strategy": "canary", "canary-decision": "maybe"}, "::error title=Invalid input canary-decision::"},
		{"nothing waits for a decision", map[string]string{"strategy": "canary", "canary-decision": "promote"}, "::error title=Invalid input canary-decision::no canary of deployment erlmcp waits for a decision"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := map[string]string{"environment": "production", "namespace": ns, "kubeconfig": kc, "image": "ghcr.io/acme/erlmcp:1.1.0"}
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
}

func TestDeployActionBlueGreen(t *testing.T) {
	t.Parallel()
	ns, kc, _ := target(t)
	_, err := cluster.Client.CoreV1().Services(ns).Create(context.Background(), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "erlmcp"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "erlmcp"}, Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	s := runAction(t, map[string]string{"environment": "production", "namespace": ns, "kubeconfig": kc, "image": "ghcr.io/acme/erlmcp:1.1.0",
		"strategy": "blue-green", "blue-green-keep": "1s"})
	require.Equal(t, 0, s.Code, s.Log)
	assert.Equal(t, "succeeded", s.Output("status"))
	assert.Contains(t, s.Log, "::group::Switch service erlmcp to green")
	assert.Contains(t, s.Summary, "### Blue-green")
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.1.0", d.Spec.Template.Spec.Containers[0].Image)
	_, err = cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "erlmcp-green", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err))
}
