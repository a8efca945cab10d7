package canary_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/org/erlmcp-deploy/internal/canary"
)

func TestPureReplicas(t *testing.T) {
	for _, tc := range []struct {
		pct     int
		desired int32
		want    int32
	}{
		{10, 10, 1}, {10, 3, 1}, {50, 3, 2}, {25, 4, 1}, {50, 4, 2}, {99, 4, 4}, {1, 100, 1}, {10, 0, 1}, {10, 1, 1},
	} {
		assert.Equal(t, tc.want, canary.Replicas(tc.pct, tc.desired), "%d%% of %d", tc.pct, tc.desired)
	}
	assert.InDelta(t, 0.25, canary.Share(1, 3), 1e-12)
}

func TestPureParseSteps(t *testing.T) {
	s, err := canary.ParseSteps([]string{"10", " 50% "})
	require.NoError(t, err)
	assert.Equal(t, []int{10, 50}, s)
	for _, bad := range [][]string{{"0"}, {"100"}, {"50", "10"}, {"ten"}, {}} {
		_, err := canary.ParseSteps(bad)
		assert.Error(t, err, "%v", bad)
	}
}

func TestPureWorkload(t *testing.T) {
	three := int32(3)
	stable := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "erlmcp", Namespace: "prod", Labels: map[string]string{"app": "erlmcp"}, Annotations: map[string]string{"a": "b"}},
		Spec: appsv1.DeploymentSpec{Replicas: &three, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "erlmcp"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "erlmcp"}},
				Spec: corev1.PodSpec{
					InitContainers: []corev1.Container{{Name: "migrate", Image: "ghcr.io/acme/erlmcp:1.0.0"}, {Name: "wait", Image: "busybox:1"}},
					Containers:     []corev1.Container{{Name: "erlmcp", Image: "ghcr.io/acme/erlmcp:1.0.0"}, {Name: "sidecar", Image: "envoy:1"}}}}},
	}
	d := canary.Workload(stable, canary.TrackCanary, "ghcr.io/acme/erlmcp:1.1.0", "erlmcp", []string{"migrate"}, 1)
	assert.Equal(t, "erlmcp-canary", d.Name)
	assert.Equal(t, map[string]string{"app": "erlmcp", canary.TrackLabel: "canary", canary.OfLabel: "erlmcp"}, d.Labels)
	assert.Equal(t, map[string]string{"app": "erlmcp", canary.TrackLabel: "canary"}, d.Spec.Selector.MatchLabels, "its own selector")
	assert.Equal(t, map[string]string{"app": "erlmcp", canary.TrackLabel: "canary"}, d.Spec.Template.Labels, "still selected by a Service on app=erlmcp")
	assert.Equal(t, int32(1), *d.Spec.Replicas)
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.1.0", d.Spec.Template.Spec.Containers[0].Image)
	assert.Equal(t, "envoy:1", d.Spec.Template.Spec.Containers[1].Image)
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.1.0", d.Spec.Template.Spec.InitContainers[0].Image)
	assert.Equal(t, "busybox:1", d.Spec.Template.Spec.InitContainers[1].Image)
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.0.0", stable.Spec.Template.Spec.Containers[0].Image, "stable is not modified")
	assert.Equal(t, map[string]string{"app": "erlmcp"}, stable.Spec.Selector.MatchLabels)
}
