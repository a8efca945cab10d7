package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/org/erlmcp-deploy/internal/deploy"
	"github.com/org/erlmcp-deploy/internal/history"
	"github.com/org/erlmcp-deploy/internal/rollback"
	"github.com/org/erlmcp-deploy/internal/rollout"
	"github.com/org/erlmcp-deploy/internal/testcluster"
	"github.com/org/erlmcp-deploy/internal/ui"
	"github.com/org/erlmcp-deploy/internal/verify"
)

// The healthy-but-noisy twins of the doomed tags: each must succeed.
func TestNoisyButHealthyReleasesSucceed(t *testing.T) {
	t.Parallel()
	for _, tag := range []string{"crashonce", "oomonce", "pull429-8s"} {
		t.Run(tag, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			img := "ghcr.io/acme/erlmcp:1.2.0-" + tag
			res, err := e.dp.Run(e.ctx, e.opts(img))
			require.NoError(t, err, "a %s release is healthy: it must not be failed", tag)
			assert.Equal(t, deploy.StatusSucceeded, res.Status)
			assert.False(t, res.RolledBack)
			e.assertServing(img)
			log := e.log.String()
			switch tag {
			case "pull429-8s":
				assert.Contains(t, log, "being rate-limited by the registry (429 Too Many Requests)", "the log says why it waits")
			default:
				assert.Contains(t, log, "since the change; tolerating up to 2 restarts", "the log says what it tolerates")
			}
			t.Logf("%s: verified after %s", tag, res.TimeToVerdict.Round(100*time.Millisecond))
		})
	}
}

// A transient pull failure that never recovers fails after image-pull-grace.
func TestRateLimitThatPersistsFailsAfterTheGrace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.opts("ghcr.io/acme/erlmcp:1.2.0-fault-ratelimit")
	o.Rollout.ImagePullGrace = 6 * time.Second
	res, err := e.dp.Run(e.ctx, o)
	require.Error(t, err)
	assert.Equal(t, deploy.StatusRolledBack, res.Status)
	assert.Contains(t, res.FailureReason, "kept failing for 6s")
	assert.Contains(t, res.FailureReason, "429 Too Many Requests")
	assert.GreaterOrEqual(t, res.TimeToVerdict, 6*time.Second, "not before the grace")
	e.assertServing(v1)
}

// A re-deploy of the image already serving, whose pods have served for
// weeks with restarts and an OOM kill, is a success, not a failure.
func TestRedeployOfServingImageWithOldRestarts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	require.NoError(t, cluster.AgePods(e.ctx, e.ns, "app=erlmcp", 7, true))
	res, err := e.dp.Run(e.ctx, e.opts(v1))
	require.NoError(t, err)
	assert.Equal(t, deploy.StatusSucceeded, res.Status)
	assert.True(t, res.Unchanged)
	e.assertServing(v1)
}

// The automatic rollback waits on the old ReplicaSet's pods, which have
// restarts and an OOM kill from before: the rollback is a success.
func TestAutomaticRollbackOntoPodsWithOldRestarts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	require.NoError(t, cluster.AgePods(e.ctx, e.ns, "app=erlmcp", 7, true))
	res, err := e.dp.Run(e.ctx, e.opts("ghcr.io/acme/erlmcp:1.2.0-fault-imagepull"))
	require.Error(t, err)
	assert.Equal(t, deploy.StatusRolledBack, res.Status, "the rollback onto long-serving pods is verified: %s", res.RollbackError)
	assert.True(t, res.RolledBack)
	assert.Empty(t, res.RollbackError)
	assert.Equal(t, int64(1), res.RollbackTo)
	e.assertServing(v1)
	revs, err := history.List(e.ctx, cluster.Client, e.deployment())
	require.NoError(t, err)
	for _, rv := range revs {
		if rv.Images[0] != v1 {
			assert.NotEmpty(t, rv.Failed, "the failed release is recorded as failed")
			assert.False(t, rv.Successful)
		}
	}
}

// Another writer (a GitOps controller) changes the template while we wait:
// a clear failure naming it, no success, no verified mark, no rollback.
func TestTemplateChangedByAnotherWriterMidWait(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mine := "ghcr.io/acme/erlmcp:1.2.0-slowstart-20s"
	theirs := "ghcr.io/acme/erlmcp:1.0.5"
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		// Wait for our change, then write theirs as Argo CD's self-heal would.
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			d, err := cluster.Client.AppsV1().Deployments(e.ns).Get(ctx, "erlmcp", metav1.GetOptions{})
			return err == nil && d.Spec.Template.Spec.Containers[0].Image == mine, nil
		})
		if err == nil {
			time.Sleep(time.Second)
			patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"erlmcp","image":%q}]}}}}`, theirs)
			_, err = cluster.Client.AppsV1().Deployments(e.ns).Patch(ctx, "erlmcp", types.StrategicMergePatchType, []byte(patch),
				metav1.PatchOptions{FieldManager: "argocd-controller"})
		}
		done <- err
	}()
	res, err := e.dp.Run(e.ctx, e.opts(mine))
	require.NoError(t, <-done)
	require.Error(t, err)
	assert.Equal(t, deploy.StatusFailed, res.Status)
	assert.Equal(t, verify.Foreign, res.Conclusion)
	assert.False(t, res.RolledBack, "no rollback over another writer's change")
	assert.Contains(t, res.FailureReason, "TemplateChanged")
	assert.Contains(t, res.FailureReason, "changed by argocd-controller (Update at ")
	assert.Contains(t, res.FailureReason, "container erlmcp runs "+theirs+", we deployed "+mine)
	assert.Contains(t, res.Advice, "no rollback over another writer's change")
	assert.NotContains(t, e.log.String(), "is serving "+mine)
	e.waitServing(theirs) // their rollout goes on: ours was left alone

	revs, err := history.List(e.ctx, cluster.Client, e.deployment())
	require.NoError(t, err)
	for _, rv := range revs {
		if rv.Images[0] != v1 {
			assert.False(t, rv.Successful, "revision %d (%s) is not marked verified", rv.Number, rv.Images[0])
		}
	}
	e.assertNoLock()
}

// newPoolEnv is a 1-replica Deployment pinned (nodeSelector) to a node pool
// of its own, one 32-CPU node, each pod asking for 20 CPUs: the surge pod of
// any rollout does not fit until a node is added to the pool.
func newPoolEnv(t *testing.T) (*env, string) {
	t.Helper()
	var pool string
	e := newEnvFor(t, func(ctx context.Context, ns string) *appsv1.Deployment {
		pool = ns
		require.NoError(t, addPoolNode(ctx, ns+"-a", ns))
		d := testcluster.Deployment("erlmcp", v1, 1)
		d.Spec.Template.Spec.NodeSelector = map[string]string{"pool": ns}
		d.Spec.Template.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("20")}
		return d
	})
	return e, pool
}

func addPoolNode(ctx context.Context, name, pool string) error {
	if err := cluster.AddNode(ctx, name, "32"); err != nil {
		return err
	}
	_, err := cluster.Client.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType,
		[]byte(fmt.Sprintf(`{"metadata":{"labels":{"pool":%q}}}`, pool)), metav1.PatchOptions{})
	return err
}

// pendingPod waits for a pod of the new release that the scheduler cannot place.
func pendingPod(ctx context.Context, ns, image string) (*corev1.Pod, error) {
	var found *corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=erlmcp"})
		if err != nil {
			return false, nil
		}
		for i, p := range pods.Items {
			for _, c := range p.Status.Conditions {
				if p.Spec.Containers[0].Image == image && c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonUnschedulable {
					found = &pods.Items[i]
					return true, nil
				}
			}
		}
		return false, nil
	})
	return found, err
}

// A node is being added (cluster-autoscaler's TriggeredScaleUp): the deploy
// waits past unschedulable-grace, says why, and succeeds when the node comes.
func TestUnschedulableWhileAScaleUpIsUnderWay(t *testing.T) {
	t.Parallel()
	e, pool := newPoolEnv(t)
	img := "ghcr.io/acme/erlmcp:1.1.0"
	o := e.opts(img)
	o.Rollout.UnschedulableGrace = 4 * time.Second
	autoscaler := make(chan error, 1)
	go func() { // plays cluster-autoscaler: announces the scale-up, then the node comes
		p, err := pendingPod(e.ctx, e.ns, img)
		if err == nil {
			err = cluster.ScaleUpEvent(e.ctx, p, testcluster.ReasonTriggeredScaleUp, "")
		}
		if err == nil {
			time.Sleep(10 * time.Second) // a node takes a while: well past the grace
			err = addPoolNode(e.ctx, pool+"-b", pool)
		}
		autoscaler <- err
	}()
	res, err := e.dp.Run(e.ctx, o)
	require.NoError(t, <-autoscaler)
	require.NoError(t, err, "a pod waiting for a node that is being added is not doomed")
	assert.Equal(t, deploy.StatusSucceeded, res.Status)
	assert.GreaterOrEqual(t, res.TimeToVerdict, 10*time.Second)
	assert.Contains(t, e.log.String(), "is waiting for a node: a scale-up is under way (TriggeredScaleUp: pod triggered scale-up")
	e.assertServingN(img, 1)
}

// Its doomed twin: no autoscaler says a node is coming, so the pod fails
// after unschedulable-grace and the release is rolled back.
func TestUnschedulableWithNoScaleUpFailsAfterTheGrace(t *testing.T) {
	t.Parallel()
	e, _ := newPoolEnv(t)
	o := e.opts("ghcr.io/acme/erlmcp:1.1.0")
	o.Rollout.UnschedulableGrace = 4 * time.Second
	res, err := e.dp.Run(e.ctx, o)
	require.Error(t, err)
	assert.Equal(t, deploy.StatusRolledBack, res.Status)
	assert.Contains(t, res.FailureReason, "Unschedulable")
	assert.Contains(t, res.FailureReason, "no scale-up under way")
	assert.GreaterOrEqual(t, res.TimeToVerdict, 4*time.Second)
	e.assertServingN(v1, 1)
}

// waitServing waits until image is the template and its rollout is complete.
func (e *env) waitServing(image string) {
	e.t.Helper()
	require.NoError(e.t, wait.PollUntilContextTimeout(e.ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		d, err := cluster.Client.AppsV1().Deployments(e.ns).Get(ctx, "erlmcp", metav1.GetOptions{})
		if err != nil || d.Spec.Template.Spec.Containers[0].Image != image || d.Status.ObservedGeneration < d.Generation {
			return false, nil
		}
		st := d.Status
		return st.Replicas == 3 && st.UpdatedReplicas == 3 && st.AvailableReplicas == 3, nil
	}), "%s serving", image)
}

func (e *env) assertServingN(image string, n int32) {
	e.t.Helper()
	d := e.deployment()
	assert.Equal(e.t, image, d.Spec.Template.Spec.Containers[0].Image)
	assert.Equal(e.t, n, d.Status.AvailableReplicas, "available replicas")
	assert.Equal(e.t, n, d.Status.UpdatedReplicas, "updated replicas")
}

// quotaEnv is the erlmcp Deployment under a ResourceQuota of 3 pods, so a
// surge pod cannot be created; maxUnavailable decides whether an old pod
// terminates first to free room.
func quotaEnv(t *testing.T, maxUnavailable int32) *env {
	e := newEnv(t)
	_, err := cluster.Client.AppsV1().Deployments(e.ns).Patch(e.ctx, "erlmcp", types.MergePatchType,
		[]byte(fmt.Sprintf(`{"spec":{"strategy":{"rollingUpdate":{"maxUnavailable":%d}}}}`, maxUnavailable)), metav1.PatchOptions{})
	require.NoError(t, err)
	_, err = cluster.Client.CoreV1().ResourceQuotas(e.ns).Create(e.ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "erlmcp"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("3")}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, wait.PollUntilContextTimeout(e.ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		q, err := cluster.Client.CoreV1().ResourceQuotas(e.ns).Get(ctx, "erlmcp", metav1.GetOptions{})
		used := q.Status.Used[corev1.ResourcePods]
		return err == nil && used.Value() == 3, nil // the resourcequota controller counts the pods
	}))
	return e
}

// A quota that blocks the surge pod with no old pod to free room: FailedCreate, rolled back.
func TestQuotaFailedCreateFails(t *testing.T) {
	t.Parallel()
	e := quotaEnv(t, 0)
	res, err := e.dp.Run(e.ctx, e.opts("ghcr.io/acme/erlmcp:1.1.0"))
	require.Error(t, err)
	assert.Equal(t, deploy.StatusRolledBack, res.Status)
	assert.Contains(t, res.FailureReason, "FailedCreate")
	assert.Contains(t, res.FailureReason, "exceeded quota")
	assert.Contains(t, res.FailureReason, "no old pod is terminating")
	e.assertServing(v1)
}

// Its twin: old pods terminate (maxUnavailable 1) and free the quota: success.
//
// The verdict must never call it doomed. Whether the rollout then finishes
// within the timeout is the control plane's business: the ReplicaSet
// controller retries a failed create with an exponential back-off, so on a
// loaded machine its last pod can come a minute late (make bench saw 82 s).
// Such a stall ends at the deadline, as kubectl would end it, and is logged.
func TestQuotaFreedByTerminatingOldPodsSucceeds(t *testing.T) {
	t.Parallel()
	e := quotaEnv(t, 1)
	img := "ghcr.io/acme/erlmcp:1.1.0"
	o := e.opts(img)
	o.Timeout = 2 * time.Minute
	res, err := e.dp.Run(e.ctx, o)
	assert.NotContains(t, res.FailureReason, "FailedCreate", "the quota is freed by the terminating old pods: never doomed")
	if err != nil && res.Verdict.Reason == rollout.ReasonTimeout {
		assert.Contains(t, res.FailureReason, "creates pods as room frees", "a stall in the ReplicaSet controller's back-off, said as such")
		t.Logf("the ReplicaSet controller's back-off outlasted the %s timeout: %s", o.Timeout, res.FailureReason)
		return
	}
	require.NoError(t, err)
	assert.Equal(t, deploy.StatusSucceeded, res.Status)
	e.assertServing(img)
}

// First adoption: a Deployment created by hand is serving complete and
// Available; the first deploy marks it verified, so rollback to
// last-successful finds it.
func TestFirstAdoptionMakesLastSuccessfulWork(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.dp.Run(e.ctx, e.opts("ghcr.io/acme/erlmcp:1.1.0"))
	require.NoError(t, err)
	assert.Contains(t, e.log.String(), "revision 1 was serving complete and Available and was never recorded as failed: presumed good, marked verified")
	r := &rollback.Roller{Client: e.id.Client, Log: ui.NewText(e.log, false)}
	res, err := r.Run(e.ctx, rollback.Options{Environment: "staging", Namespace: e.ns, Deployment: "erlmcp", To: rollback.ToLastSuccessful,
		Timeout: time.Minute, Holder: "test"})
	require.NoError(t, err)
	assert.Equal(t, rollback.StatusSucceeded, res.Status)
	e.assertServing(v1)
	revs, err := history.List(e.ctx, cluster.Client, e.deployment())
	require.NoError(t, err)
	for _, rv := range revs {
		if rv.Images[0] == "ghcr.io/acme/erlmcp:1.1.0" {
			assert.Contains(t, rv.Failed, "rolled back from", "what we rolled back from is never last-successful again")
		}
	}
}

// A deploy that starts from an unfinished, failing rollout (e.g. after a
// cancelled run or a hand edit) rolls back to the last verified revision,
// not to what was failing.
func TestRollbackFromAnUnfinishedStartGoesToTheLastVerified(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v2 := "ghcr.io/acme/erlmcp:1.1.0"
	_, err := e.dp.Run(e.ctx, e.opts(v2))
	require.NoError(t, err)
	handEdit(t, e, "ghcr.io/acme/erlmcp:1.1.1-fault-crashloop")
	res, err := e.dp.Run(e.ctx, e.opts("ghcr.io/acme/erlmcp:1.2.0-fault-imagepull"))
	require.Error(t, err)
	assert.Equal(t, deploy.StatusRolledBack, res.Status, res.RollbackError)
	assert.Contains(t, e.log.String(), "is not a known-good rollback target: its rollout is unfinished")
	assert.Contains(t, e.log.String(), "the last verified revision; the deploy started from an unfinished or failing rollout")
	assert.Equal(t, []string{v2}, res.RollbackImages)
	e.assertServing(v2)
}

// With no verified revision and an unfinished start there is nothing good
// to go back to: no rollback, a clear error, the cluster left as it is.
func TestNoKnownGoodRevisionMeansNoRollback(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	handEdit(t, e, "ghcr.io/acme/erlmcp:1.1.1-fault-crashloop")
	bad := "ghcr.io/acme/erlmcp:1.2.0-fault-imagepull"
	res, err := e.dp.Run(e.ctx, e.opts(bad))
	require.Error(t, err)
	assert.Equal(t, deploy.StatusFailed, res.Status)
	assert.False(t, res.RolledBack)
	assert.Contains(t, err.Error(), "no rollback")
	assert.Contains(t, res.Advice, "no known-good revision to roll back to")
	assert.Equal(t, bad, e.deployment().Spec.Template.Spec.Containers[0].Image)
	e.assertNoLock()
}

// handEdit sets the image as `kubectl set image` would, and waits until the
// controller has started that rollout.
func handEdit(t *testing.T, e *env, image string) {
	t.Helper()
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
		"containers": []map[string]any{{"name": "erlmcp", "image": image}}}}}})
	d, err := cluster.Client.AppsV1().Deployments(e.ns).Patch(e.ctx, "erlmcp", types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-set"})
	require.NoError(t, err)
	require.NoError(t, wait.PollUntilContextTimeout(e.ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		cur, err := cluster.Client.AppsV1().Deployments(e.ns).Get(ctx, "erlmcp", metav1.GetOptions{})
		return err == nil && cur.Status.ObservedGeneration >= d.Generation && cur.Status.UpdatedReplicas >= 1, nil
	}))
}

// An init container that runs the app's image (a migration step) gets the
// new image too, unless update-init-containers is false.
func TestInitContainersOfTheSameRepositoryAreUpdated(t *testing.T) {
	t.Parallel()
	for _, update := range []bool{true, false} {
		t.Run(fmt.Sprint(update), func(t *testing.T) {
			t.Parallel()
			e := newEnvFor(t, func(context.Context, string) *appsv1.Deployment {
				d := testcluster.Deployment("erlmcp", v1, 2)
				d.Spec.Template.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: v1}, {Name: "wait-db", Image: "busybox:1.36"}}
				return d
			})
			v2 := "ghcr.io/acme/erlmcp:1.1.0"
			o := e.opts(v2)
			o.InitContainers = update
			res, err := e.dp.Run(e.ctx, o)
			require.NoError(t, err)
			assert.Equal(t, deploy.StatusSucceeded, res.Status)
			inits := e.deployment().Spec.Template.Spec.InitContainers
			want := v1
			if update {
				want = v2
				assert.Contains(t, e.log.String(), "patched container erlmcp and init container(s) migrate:")
			}
			assert.Equal(t, want, inits[0].Image, "migrate")
			assert.Equal(t, "busybox:1.36", inits[1].Image, "another repository is left alone")
		})
	}
}
