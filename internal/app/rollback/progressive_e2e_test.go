package rollback_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/org/erlmcp-deploy/internal/bluegreen"
	"github.com/org/erlmcp-deploy/internal/canary"
	"github.com/org/erlmcp-deploy/internal/deploy"
	"github.com/org/erlmcp-deploy/internal/testcluster"
	"github.com/org/erlmcp-deploy/internal/ui"
)

// TestRollbackSwitchesABlueGreenBack: while the old pods are kept after a
// switch, the rollback action switches the Service back (no rollout), and
// to: cleanup removes a half-done canary.
func TestRollbackSwitchesABlueGreenBack(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := fmt.Sprintf("app-rollback-%d", seq.Add(1))
	id, err := cluster.Deployer(ctx, ns)
	require.NoError(t, err)
	require.NoError(t, cluster.CreateAvailable(ctx, ns, testcluster.Deployment("erlmcp", v1, 2)))
	_, err = cluster.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "erlmcp"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "erlmcp"}, Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	bctx, stop := context.WithCancel(ctx)
	bg := &bluegreen.BlueGreen{Client: id.Client, Log: ui.Discard{}, Deployer: &deploy.Deployer{Client: id.Client, Log: ui.Discard{}}}
	_, err = bg.Run(bctx, bluegreen.Options{Keep: time.Hour, Deploy: deploy.Options{Environment: "production", Namespace: ns, Deployment: "erlmcp",
		Image: v2, Timeout: time.Minute, FailFast: true, Holder: "bg", BackupDir: t.TempDir(),
		HealthCheck: func(context.Context) error { go func() { time.Sleep(300 * time.Millisecond); stop() }(); return nil }}})
	require.ErrorIs(t, err, context.Canceled, "the run died while keeping the old pods")
	svc, err := cluster.Client.CoreV1().Services(ns).Get(ctx, "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	require.Contains(t, svc.Spec.Selector, bluegreen.HashLabel, "green serves")

	s := runAction(t, id.Kubeconfig, map[string]string{"environment": "production", "confirm": "production", "namespace": ns})
	require.Equal(t, 0, s.Code, s.Log)
	assert.Equal(t, "succeeded", s.Output("status"))
	assert.Contains(t, s.Log, "switched back to the old pods")
	svc, err = cluster.Client.CoreV1().Services(ns).Get(ctx, "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"app": "erlmcp"}, svc.Spec.Selector)
	_, err = cluster.Client.AppsV1().Deployments(ns).Get(ctx, "erlmcp-green", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err))
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, v1, d.Spec.Template.Spec.Containers[0].Image, "the Deployment was never changed")
	rss, err := cluster.Client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=erlmcp,!" + canary.TrackLabel})
	require.NoError(t, err)
	assert.Len(t, rss.Items, 1, "no rollout was started: the Deployment still has its one ReplicaSet")

	// A canary left by a dead run: to: cleanup removes it and nothing else.
	stable := d.DeepCopy()
	left := canary.Workload(stable, canary.TrackCanary, v2, "erlmcp", nil, 1)
	_, err = cluster.Client.AppsV1().Deployments(ns).Create(ctx, left, metav1.CreateOptions{})
	require.NoError(t, err)
	s = runAction(t, id.Kubeconfig, map[string]string{"environment": "production", "confirm": "production", "namespace": ns, "to": "cleanup"})
	require.Equal(t, 0, s.Code, s.Log)
	assert.Equal(t, "unchanged", s.Output("status"))
	assert.Contains(t, s.Log, "undid left-over canary/blue-green workloads: deployment erlmcp-canary removed")
	_, err = cluster.Client.AppsV1().Deployments(ns).Get(ctx, "erlmcp-canary", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err))
}
