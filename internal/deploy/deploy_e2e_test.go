package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/org/erlmcp-deploy/internal/deploy"
	"github.com/org/erlmcp-deploy/internal/history"
	"github.com/org/erlmcp-deploy/internal/lock"
	"github.com/org/erlmcp-deploy/internal/rollback"
	"github.com/org/erlmcp-deploy/internal/testcluster"
	"github.com/org/erlmcp-deploy/internal/ui"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) { testcluster.Main(m, &cluster) }

const v1 = "ghcr.io/acme/erlmcp:1.0.0"

// env is one test's namespace with a 3-replica erlmcp Deployment serving v1
// and the least-privilege deployer identity.
type env struct {
	t   *testing.T
	ctx context.Context
	ns  string
	id  *testcluster.Identity
	log *ui.Buffer
	dp  *deploy.Deployer
}

var nsSeq struct {
	sync.Mutex
	n int
}

func newEnv(t *testing.T, containers ...corev1.Container) *env {
	t.Helper()
	return newEnvFor(t, func(context.Context, string) *appsv1.Deployment {
		d := testcluster.Deployment("erlmcp", v1, 3)
		d.Annotations = map[string]string{history.ChangeCauseAnnotation: "initial"}
		if len(containers) > 0 {
			d.Spec.Template.Spec.Containers = containers
		}
		return d
	})
}

// newEnvFor is newEnv with the Deployment that build makes for the namespace.
func newEnvFor(t *testing.T, build func(ctx context.Context, ns string) *appsv1.Deployment) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	nsSeq.Lock()
	nsSeq.n++
	ns := fmt.Sprintf("deploy-%d", nsSeq.n)
	nsSeq.Unlock()
	id, err := cluster.Deployer(ctx, ns)
	require.NoError(t, err)
	require.NoError(t, cluster.CreateAvailable(ctx, ns, build(ctx, ns)))
	e := &env{t: t, ctx: ctx, ns: ns, id: id, log: &ui.Buffer{}}
	e.dp = &deploy.Deployer{Client: id.Client, Log: ui.NewText(e.log, false)}
	t.Cleanup(func() {
		if t.Failed() || testing.Verbose() {
			t.Logf("deploy log:\n%s", e.log.String())
		}
	})
	return e
}

// crashLog is what a crashed erlmcp printed when its database refused the
// connection: a cause that a restart can clear (bootcause: dependency-unreachable).
const crashLog = `[info] erlmcp starting: node erlmcp@pod, OTP 27
[error] erlmcp_store: connect to db:5432 failed: econnrefused
{"init terminating in do_boot",{{badmatch,{error,econnrefused}},[{erlmcp_app,start,2,[]}]}}
init terminating in do_boot ({{badmatch,{error,econnrefused}},[{erlmcp_app,start,2,[]}]})
`

// previousLog makes every crashed instance in the env's namespace have printed log
// (the cluster's default names no cause).
func (e *env) previousLog(log string) {
	e.t.Helper()
	cleanup, err := cluster.NamespaceLogs(e.ctx, e.ns, testcluster.ContainerLogs{Previous: log})
	require.NoError(e.t, err)
	e.t.Cleanup(func() { assert.NoError(e.t, cleanup()) })
}

func (e *env) opts(image string) deploy.Options {
	return deploy.Options{
		Environment: "staging", Namespace: e.ns, Deployment: "erlmcp", Image: image, Timeout: 90 * time.Second,
		FailFast: true, RollbackOnFailure: true, ChangeCause: "deploy " + image + " by test", Holder: "test/" + e.t.Name(),
		BackupDir: e.t.TempDir(),
	}
}

func (e *env) deployment() *appsv1.Deployment {
	d, err := cluster.Client.AppsV1().Deployments(e.ns).Get(e.ctx, "erlmcp", metav1.GetOptions{})
	require.NoError(e.t, err)
	return d
}

func (e *env) assertServing(image string) {
	e.t.Helper()
	d := e.deployment()
	assert.Equal(e.t, image, d.Spec.Template.Spec.Containers[0].Image)
	assert.Equal(e.t, int32(3), d.Status.AvailableReplicas, "available replicas")
	assert.Equal(e.t, int32(3), d.Status.UpdatedReplicas, "updated replicas")
}

func (e *env) assertNoLock() {
	e.t.Helper()
	_, err := cluster.Client.CoordinationV1().Leases(e.ns).Get(e.ctx, lock.Name("erlmcp"), metav1.GetOptions{})
	assert.True(e.t, apierrors.IsNotFound(err), "the deploy lock is released: %v", err)
}

func TestGoodImageSucceeds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const v2 = "ghcr.io/acme/erlmcp:1.1.0"
	res, err := e.dp.Run(e.ctx, e.opts(v2))
	require.NoError(t, err)
	assert.Equal(t, deploy.StatusSucceeded, res.Status)
	assert.Equal(t, int64(2), res.Revision)
	assert.Equal(t, int64(1), res.PreviousRevision)
	assert.Equal(t, []string{v1}, res.PreviousImages)
	assert.False(t, res.RolledBack)
	assert.Empty(t, res.FailureReason)
	e.assertServing(v2)
	e.assertNoLock()
	t.Logf("healthy rollout verdict after %s", res.TimeToVerdict)

	revs, err := history.List(e.ctx, cluster.Client, e.deployment())
	require.NoError(t, err)
	require.Len(t, revs, 2)
	assert.Equal(t, "deploy "+v2+" by test", revs[0].ChangeCause, "change-cause recorded on the new revision")
	assert.True(t, revs[0].Successful, "a verified revision is marked successful")
	assert.True(t, revs[1].Successful, "what served complete and Available at the start is presumed good (first adoption)")

	backup, err := os.ReadFile(res.BackupPath)
	require.NoError(t, err)
	assert.Contains(t, string(backup), `"revision": "1"`)
	assert.Contains(t, string(backup), v1)

	log := e.log.String()
	assert.Contains(t, log, "permissions: ok")
	assert.Contains(t, log, "revision 2 is serving "+v2)
	assert.Regexp(t, `\d/3 updated, \d/3 available`, log, "progress lines")
}

func TestFaultTagsFailFastAndRollBack(t *testing.T) {
	t.Parallel()
	cases := []struct {
		tag, reason, evidence string
		within                time.Duration // a real kubelet's back-off: the third restart comes ~30 s in
		previousLog           string        // what the crashed instances printed, when not the cluster's default
	}{
		{"fault-imagepull", "ErrImagePull", "not found", 15 * time.Second, ""},
		{"fault-crashloop", "CrashLoopBackOff", "{badmatch,{error,econnrefused}}", 45 * time.Second, crashLog},
		{"fault-configerror", "CreateContainerConfigError", `secret "erlmcp-secrets" not found`, 15 * time.Second, ""},
		{"fault-oom", "OOMKilled", "OOMKilled", 45 * time.Second, ""},
	}
	for _, tc := range cases {
		t.Run(tc.tag, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			if tc.previousLog != "" {
				e.previousLog(tc.previousLog)
			}
			bad := "ghcr.io/acme/erlmcp:1.2.0-" + tc.tag
			res, err := e.dp.Run(e.ctx, e.opts(bad))
			require.Error(t, err)
			assert.Equal(t, deploy.StatusRolledBack, res.Status)
			assert.True(t, res.RolledBack)
			assert.Contains(t, res.FailureReason, tc.reason)
			assert.Less(t, res.TimeToVerdict, tc.within, "fail-fast, not the progress deadline")
			require.NotNil(t, res.Diagnostics)
			text := res.Diagnostics.Text()
			assert.Contains(t, text, tc.reason)
			assert.Contains(t, text, tc.evidence)
			assert.Equal(t, int64(3), res.Revision, "revision 1's template comes back as revision 3")
			e.assertServing(v1)
			e.assertNoLock()
			t.Logf("%s: verdict after %s, rolled back in %s", tc.tag, res.TimeToVerdict.Round(time.Millisecond), res.RollbackDuration.Round(time.Millisecond))
		})
	}
}

func TestCrashLoopDiagnosticsShowPreviousLogsAndEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.previousLog(crashLog)
	res, err := e.dp.Run(e.ctx, e.opts("ghcr.io/acme/erlmcp:1.2.0-fault-crashloop"))
	require.Error(t, err)
	require.NotNil(t, res.Diagnostics)
	rep := res.Diagnostics
	require.NotEmpty(t, rep.Pods)
	c := rep.Pods[0].Containers[0]
	assert.True(t, c.LogsPrevious, "a crash loop shows the previous instance's logs")
	assert.Contains(t, c.Logs, "init terminating in do_boot")
	assert.Contains(t, c.Last, "terminated: Error (exit 1)")
	var reasons []string
	for _, ev := range rep.Events {
		reasons = append(reasons, ev.Reason)
	}
	assert.Contains(t, reasons, "BackOff")
	assert.Empty(t, rep.Errors, "the deployer identity may read logs and events")
	assert.Contains(t, e.log.String(), "logs of the previous instance")
}

func TestNoRollbackLeavesTheClusterAsIs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bad := "ghcr.io/acme/erlmcp:1.2.0-fault-crashloop"
	o := e.opts(bad)
	o.RollbackOnFailure = false
	res, err := e.dp.Run(e.ctx, o)
	require.Error(t, err)
	assert.Equal(t, deploy.StatusFailed, res.Status)
	assert.False(t, res.RolledBack)
	d := e.deployment()
	assert.Equal(t, bad, d.Spec.Template.Spec.Containers[0].Image, "left as is")
	assert.Equal(t, int32(3), d.Status.AvailableReplicas, "maxUnavailable 0 keeps the old pods serving")
	e.assertNoLock()
}

func TestSlowStartWithinTimeoutSucceeds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	img := "ghcr.io/acme/erlmcp:1.2.0-slowstart-2s"
	res, err := e.dp.Run(e.ctx, e.opts(img))
	require.NoError(t, err, "a slow start is not a failure")
	assert.Equal(t, deploy.StatusSucceeded, res.Status)
	assert.GreaterOrEqual(t, res.TimeToVerdict, 3*time.Second, "three pods one after another, 2 s each (surge 1)")
	e.assertServing(img)
}

func TestNeverReadyFailsAtTheTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	o := e.opts("ghcr.io/acme/erlmcp:1.2.0-fault-neverready")
	o.Timeout = 6 * time.Second
	res, err := e.dp.Run(e.ctx, o)
	require.Error(t, err)
	assert.Equal(t, deploy.StatusRolledBack, res.Status)
	assert.Contains(t, res.FailureReason, "Timeout")
	assert.GreaterOrEqual(t, res.TimeToVerdict, 6*time.Second)
	assert.Contains(t, res.Diagnostics.Text(), "Readiness probe failed", "the Unhealthy event explains it")
	e.assertServing(v1)
}

func TestDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	before := e.deployment()
	o := e.opts("ghcr.io/acme/erlmcp:1.1.0")
	o.DryRun = true
	res, err := e.dp.Run(e.ctx, o)
	require.NoError(t, err)
	assert.True(t, res.DryRun)
	after := e.deployment()
	assert.Equal(t, before.Generation, after.Generation, "nothing changed in the spec")
	assert.Equal(t, before.Annotations, after.Annotations, "nothing changed in the annotations")
	assert.Equal(t, v1, after.Spec.Template.Spec.Containers[0].Image)
	e.assertNoLock()
	assert.Contains(t, e.log.String(), "dry run")
}

func TestPreflightRefusesWithoutChanging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other := newEnv(t) // an identity bound in another namespace only
	cases := []struct {
		name string
		dp   *deploy.Deployer
		mut  func(*deploy.Options)
		want string
	}{
		{"missing deployment", e.dp, func(o *deploy.Options) { o.Deployment = "nope" }, `deployment "nope" not found in namespace`},
		{"unknown container", e.dp, func(o *deploy.Options) { o.Container = "sidecar" }, `has no container "sidecar"; its containers are erlmcp`},
		{"forbidden namespace", other.dp, nil, "not allowed to read deployment"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := e.opts("ghcr.io/acme/erlmcp:1.1.0")
			if tc.mut != nil {
				tc.mut(&o)
			}
			before := e.deployment()
			res, err := tc.dp.Run(e.ctx, o)
			require.Error(t, err)
			assert.True(t, deploy.IsPreflight(err), "%v", err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), "nothing was changed")
			assert.Equal(t, deploy.StatusFailed, res.Status)
			after := e.deployment()
			assert.Equal(t, before.Generation, after.Generation)
			assert.Equal(t, before.Annotations, after.Annotations)
		})
	}
	t.Run("paused", func(t *testing.T) {
		_, err := cluster.Client.AppsV1().Deployments(e.ns).Patch(e.ctx, "erlmcp", "application/merge-patch+json", []byte(`{"spec":{"paused":true}}`), metav1.PatchOptions{})
		require.NoError(t, err)
		defer cluster.Client.AppsV1().Deployments(e.ns).Patch(e.ctx, "erlmcp", "application/merge-patch+json", []byte(`{"spec":{"paused":false}}`), metav1.PatchOptions{})
		_, err = e.dp.Run(e.ctx, e.opts("ghcr.io/acme/erlmcp:1.1.0"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "is paused")
		assert.Equal(t, v1, e.deployment().Spec.Template.Spec.Containers[0].Image)
	})
	e.assertNoLock()
}

func TestMissingVerbIsNamed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Take patch away from the deployer's Role.
	role, err := cluster.Client.RbacV1().Roles(e.ns).Get(e.ctx, "erlmcp-deployer", metav1.GetOptions{})
	require.NoError(t, err)
	role.Rules[0].Verbs = []string{"get", "list", "watch"}
	_, err = cluster.Client.RbacV1().Roles(e.ns).Update(e.ctx, role, metav1.UpdateOptions{})
	require.NoError(t, err)
	_, err = e.dp.Run(e.ctx, e.opts("ghcr.io/acme/erlmcp:1.1.0"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "lacks permissions in namespace "+e.ns+": patch deployments.apps")
	assert.Equal(t, v1, e.deployment().Spec.Template.Spec.Containers[0].Image)
	e.assertNoLock()
}

func TestMultiContainerNeedsTheContainerInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, corev1.Container{Name: "erlmcp", Image: v1}, corev1.Container{Name: "proxy", Image: "envoy:1.30"})
	_, err := e.dp.Run(e.ctx, e.opts("ghcr.io/acme/erlmcp:1.1.0"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "has 2 containers (erlmcp, proxy): set the container input")
	o := e.opts("ghcr.io/acme/erlmcp:1.1.0")
	o.Container = "erlmcp"
	res, err := e.dp.Run(e.ctx, o)
	require.NoError(t, err)
	assert.Equal(t, deploy.StatusSucceeded, res.Status)
	d := e.deployment()
	assert.Equal(t, "envoy:1.30", d.Spec.Template.Spec.Containers[1].Image, "only the chosen container changes")
}

func TestConcurrentDeployIsRefusedWhileTheLockIsHeld(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.opts("ghcr.io/acme/erlmcp:1.1.0-slowstart-2s")
	first.Holder = "https://github.com/acme/erlmcp/actions/runs/1"
	done := make(chan error, 1)
	go func() {
		_, err := e.dp.Run(e.ctx, first)
		done <- err
	}()
	require.NoError(t, wait.PollUntilContextCancel(e.ctx, 20*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := cluster.Client.CoordinationV1().Leases(e.ns).Get(ctx, lock.Name("erlmcp"), metav1.GetOptions{})
		return err == nil, nil
	}), "the first deploy takes the lock")
	second := e.opts("ghcr.io/acme/erlmcp:1.3.0")
	second.Holder = "https://github.com/acme/erlmcp/actions/runs/2"
	_, err := (&deploy.Deployer{Client: e.id.Client, Log: ui.Discard{}}).Run(e.ctx, second)
	require.Error(t, err)
	var held *lock.HeldError
	require.True(t, errors.As(err, &held), "%v", err)
	assert.Equal(t, "https://github.com/acme/erlmcp/actions/runs/1", held.Holder.ID)
	assert.Contains(t, err.Error(), "another run holds the deploy lock: https://github.com/acme/erlmcp/actions/runs/1 (deploy ghcr.io/acme/erlmcp:1.1.0-slowstart-2s to staging)")
	require.NoError(t, <-done)
	e.assertServing("ghcr.io/acme/erlmcp:1.1.0-slowstart-2s")
	e.assertNoLock()
}

func TestForceTakesTheLockOver(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := lock.Acquire(e.ctx, e.id.Client, e.ns, "erlmcp", lock.Holder{ID: "stale-run", Action: "deploy"}, time.Hour, false)
	require.NoError(t, err)
	_, err = e.dp.Run(e.ctx, e.opts("ghcr.io/acme/erlmcp:1.1.0"))
	require.Error(t, err, "held")
	o := e.opts("ghcr.io/acme/erlmcp:1.1.0")
	o.Force = true
	res, err := e.dp.Run(e.ctx, o)
	require.NoError(t, err)
	assert.Equal(t, deploy.StatusSucceeded, res.Status)
	assert.Contains(t, e.log.String(), "force: took the deploy lock over from stale-run")
	e.assertNoLock()
}

// TestCancelAtEachPhase stops a deploy at each phase: it releases the lock,
// prints the state it leaves (and whether a rollback was in flight), and the
// next deploy or rollback converges from there.
func TestCancelAtEachPhase(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		phase, at, image string
		says             []string
		generation       int64 // of the Deployment when the run stopped
		converge         func(e *env) error
	}{
		{phase: "pre-flight", at: "permissions: ok", image: "ghcr.io/acme/erlmcp:1.1.0",
			says:       []string{"cancelled during pre-flight: nothing was changed (deployment erlmcp is at revision 1 (" + v1 + "): 3/3 updated, 3/3 available)"},
			generation: 1,
			converge: func(e *env) error {
				_, err := e.dp.Run(e.ctx, e.opts("ghcr.io/acme/erlmcp:1.1.0"))
				e.assertServing("ghcr.io/acme/erlmcp:1.1.0")
				return err
			}},
		{phase: "after the patch", at: "patched container", image: "ghcr.io/acme/erlmcp:1.1.0-fault-neverready",
			says: []string{"cancelled while waiting for the rollout of ghcr.io/acme/erlmcp:1.1.0-fault-neverready: deployment erlmcp",
				"no rollback was started; run deploy again to finish, or rollback to return to revision 1"},
			generation: 2,
			converge: func(e *env) error {
				_, err := e.dp.Run(e.ctx, e.opts("ghcr.io/acme/erlmcp:1.2.0"))
				e.assertServing("ghcr.io/acme/erlmcp:1.2.0")
				return err
			}},
		{phase: "while rolling back", at: "restored revision 1's template", image: "ghcr.io/acme/erlmcp:1.1.0-fault-crashloop",
			says: []string{"cancelled while rolling back: a rollback to revision 1 (" + v1 + ") was in flight; deployment erlmcp",
				"to finish it run rollback with to: " + v1},
			generation: 3,
			converge: func(e *env) error {
				r := &rollback.Roller{Client: e.id.Client, Log: ui.NewText(e.log, false)}
				res, err := r.Run(e.ctx, rollback.Options{Environment: "staging", Namespace: e.ns, Deployment: "erlmcp", To: v1, Timeout: time.Minute, Holder: "next"})
				if err == nil {
					assert.Equal(e.t, rollback.StatusUnchanged, res.Status, res.Message)
				}
				e.assertServing(v1)
				return err
			}},
	} {
		t.Run(tc.phase, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx, cancel := context.WithCancel(e.ctx)
			dp := &deploy.Deployer{Client: e.id.Client, Log: ui.NewText(testcluster.CancelOn(e.log, tc.at, cancel), false)}
			res, err := dp.Run(ctx, e.opts(tc.image))
			require.Error(t, err)
			assert.ErrorIs(t, err, context.Canceled)
			assert.Equal(t, deploy.StatusFailed, res.Status)
			for _, s := range tc.says {
				assert.Contains(t, e.log.String(), s)
			}
			e.assertNoLock()
			assert.Equal(t, tc.generation, e.deployment().Generation)
			require.NoError(t, tc.converge(e), "the next run converges")
			e.assertNoLock()
		})
	}
}

// TestTwoDeploysAtOnce: exactly one proceeds; the other fails naming the
// holder and changes nothing.
func TestTwoDeploysAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	images := []string{"ghcr.io/acme/erlmcp:2.0.0-slowstart-2s", "ghcr.io/acme/erlmcp:3.0.0-slowstart-2s"}
	errs := make([]error, 2)
	results := make([]*deploy.Result, 2)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i := range images {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := e.opts(images[i])
			o.Holder = fmt.Sprintf("run-%d", i)
			<-gate
			results[i], errs[i] = (&deploy.Deployer{Client: e.id.Client, Log: ui.Discard{}}).Run(e.ctx, o)
		}()
	}
	close(gate)
	wg.Wait()
	var held *lock.HeldError
	switch {
	case errs[0] == nil:
		require.True(t, errors.As(errs[1], &held), "the other is refused: %v", errs[1])
		assert.Equal(t, "run-0", held.Holder.ID)
		e.assertServing(images[0])
	case errs[1] == nil:
		require.True(t, errors.As(errs[0], &held), "the other is refused: %v", errs[0])
		assert.Equal(t, "run-1", held.Holder.ID)
		e.assertServing(images[1])
	default:
		t.Fatalf("neither deploy proceeded: %v / %v", errs[0], errs[1])
	}
	assert.Equal(t, int64(2), e.deployment().Generation, "one patch only")
	e.assertNoLock()
}

func TestExpiredLockIsTakenOverWithAWarning(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := lock.Acquire(e.ctx, e.id.Client, e.ns, "erlmcp", lock.Holder{ID: "crashed-run", Action: "deploy"}, time.Second, false)
	require.NoError(t, err)
	time.Sleep(1500 * time.Millisecond)
	res, err := e.dp.Run(e.ctx, e.opts("ghcr.io/acme/erlmcp:1.1.0"))
	require.NoError(t, err)
	assert.Equal(t, deploy.StatusSucceeded, res.Status)
	assert.Contains(t, e.log.String(), "warning: took over an expired deploy lock of crashed-run")
	e.assertNoLock()
}
