package deploy_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/org/erlmcp-deploy/internal/deploy"
	"github.com/org/erlmcp-deploy/internal/history"
	"github.com/org/erlmcp-deploy/internal/kube"
	"github.com/org/erlmcp-deploy/internal/rollout"
	"github.com/org/erlmcp-deploy/internal/testcluster"
	"github.com/org/erlmcp-deploy/internal/ui"
	"github.com/org/erlmcp-deploy/internal/verify"
)

// TestControlPlaneCrashDuringTheWait kills a control-plane component while a
// deploy waits for its rollout; the watch must resume after it comes back,
// reach the right verdict, and never patch twice or roll back. Each case has
// a cluster of its own: the crash would disturb the other tests.
func TestControlPlaneCrashDuringTheWait(t *testing.T) {
	for _, component := range []string{"kube-apiserver", "etcd"} {
		t.Run(component, func(t *testing.T) {
			c := testcluster.Start(t)
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			id, err := c.Deployer(ctx, "faults")
			require.NoError(t, err)
			require.NoError(t, c.CreateAvailable(ctx, "faults", testcluster.Deployment("erlmcp", v1, 3)))

			log := &ui.Buffer{}
			dp := &deploy.Deployer{Client: id.Client, Log: ui.NewText(log, false)}
			const img = "ghcr.io/acme/erlmcp:1.1.0-slowstart-4s"
			var crashErr error
			var crashed, back time.Time
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = wait.PollUntilContextCancel(ctx, 20*time.Millisecond, true, func(context.Context) (bool, error) {
					return strings.Contains(log.String(), "patched container"), nil
				})
				crashed = time.Now()
				crashErr = c.Crash(ctx, component, 3*time.Second)
				back = time.Now()
			}()
			began := time.Now()
			res, err := dp.Run(ctx, deploy.Options{Environment: "staging", Namespace: "faults", Deployment: "erlmcp", Image: img,
				Timeout: 3 * time.Minute, FailFast: true, RollbackOnFailure: true, ChangeCause: "faults", Holder: "faults", BackupDir: t.TempDir()})
			wg.Wait()
			require.NoError(t, crashErr)
			require.NoError(t, err, "the deploy survives the %s crash:\n%s", component, log.String())
			assert.Equal(t, deploy.StatusSucceeded, res.Status)
			assert.False(t, res.RolledBack)
			d, err := c.Client.AppsV1().Deployments("faults").Get(ctx, "erlmcp", metav1.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, int64(2), d.Generation, "exactly one patch")
			assert.Equal(t, img, d.Spec.Template.Spec.Containers[0].Image)
			revs, err := history.List(ctx, c.Client, d)
			require.NoError(t, err)
			assert.Len(t, revs, 2, "no rollback revision")
			t.Logf("%s down %s, from %s into the deploy; success reported %s after it was back (deploy took %s)", component,
				back.Sub(crashed).Round(100*time.Millisecond), crashed.Sub(began).Round(100*time.Millisecond),
				time.Since(back).Round(100*time.Millisecond), res.Duration.Round(100*time.Millisecond))
		})
	}
}

// viaProxy makes e's deployer reach the API server through a fault proxy,
// with the client the actions build (kube.Load: retries with backoff).
func (e *env) viaProxy() (*testcluster.FaultProxy, *atomic.Int64) {
	p := cluster.FaultProxy(e.t)
	retries := &atomic.Int64{}
	c, err := kube.Load(kube.Source{Kubeconfig: p.Kubeconfig(e.t, e.id), Retry: kube.Retry{OnRetry: func(kube.RetryEvent) { retries.Add(1) }}})
	require.NoError(e.t, err)
	e.dp.Client = c.Clientset
	return p, retries
}

// after runs f once the deploy log contains s; the returned func stops
// looking (f is not run if s never came) and waits for f.
func (e *env) after(s string, f func()) (stop func()) {
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := wait.PollUntilContextCancel(ctx, 10*time.Millisecond, true, func(context.Context) (bool, error) {
			return strings.Contains(e.log.String(), s), nil
		})
		if err == nil {
			f()
		}
	}()
	return func() { cancel(); <-done }
}

// TestAPIFaults: an API server answering 429 or 500 for a while is retried
// with backoff and the verdict is still right; one that never recovers ends
// the deploy at its timeout with a message that says so.
func TestAPIFaults(t *testing.T) {
	t.Parallel()
	t.Run("429 with Retry-After during pre-flight", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p, retries := e.viaProxy()
		p.Fail(http.StatusTooManyRequests, "1", 2500*time.Millisecond)
		began := time.Now()
		res, err := e.dp.Run(e.ctx, e.opts("ghcr.io/acme/erlmcp:1.1.0"))
		require.NoError(t, err)
		assert.Equal(t, deploy.StatusSucceeded, res.Status)
		assert.Positive(t, p.Faulted())
		assert.Positive(t, retries.Load())
		assert.Equal(t, int64(2), e.deployment().Generation, "one patch")
		e.assertServing("ghcr.io/acme/erlmcp:1.1.0")
		e.assertNoLock()
		t.Logf("%d requests refused with 429, %d retries; the deploy took %s", p.Faulted(), retries.Load(), time.Since(began).Round(100*time.Millisecond))
	})
	t.Run("500 for 5s while waiting", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p, retries := e.viaProxy()
		var healed time.Time
		stop := e.after("patched container", func() {
			p.Fail(http.StatusInternalServerError, "", 5*time.Second)
			healed = time.Now().Add(5 * time.Second)
		})
		const img = "ghcr.io/acme/erlmcp:1.1.0-slowstart-2s"
		res, err := e.dp.Run(e.ctx, e.opts(img))
		stop()
		require.NoError(t, err)
		assert.Equal(t, deploy.StatusSucceeded, res.Status)
		assert.False(t, res.RolledBack)
		assert.Positive(t, p.Faulted())
		assert.Equal(t, int64(2), e.deployment().Generation, "one patch")
		revs, err := history.List(e.ctx, cluster.Client, e.deployment())
		require.NoError(t, err)
		assert.Len(t, revs, 2, "no rollback revision")
		e.assertServing(img)
		e.assertNoLock()
		t.Logf("%d requests refused with 500 for 5s, %d retries; success reported %s after the API server answered again",
			p.Faulted(), retries.Load(), time.Since(healed).Round(100*time.Millisecond))
	})
	t.Run("500 that never ends", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p, _ := e.viaProxy()
		stop := e.after("patched container", func() { p.Fail(http.StatusInternalServerError, "", 0) })
		o := e.opts("ghcr.io/acme/erlmcp:1.1.0-slowstart-2s")
		o.Timeout, o.Recheck = 6*time.Second, 5*time.Second
		began := time.Now()
		res, err := e.dp.Run(e.ctx, o)
		took := time.Since(began)
		stop()
		require.Error(t, err)
		assert.Equal(t, deploy.StatusFailed, res.Status)
		assert.Equal(t, verify.Unknown, res.Conclusion)
		assert.Equal(t, rollout.ReasonAPIUnavailable, res.Verdict.Reason)
		assert.Contains(t, res.FailureReason, "the API server kept failing")
		assert.Contains(t, res.FailureReason, "etcdserver: leader changed")
		assert.False(t, res.RolledBack, "no blind rollback of a rollout whose state is unknown")
		assert.Empty(t, res.RollbackError, "no rollback was tried")
		assert.Contains(t, res.Advice, "no rollback: the rollout may have succeeded")
		assert.Contains(t, e.log.String(), "re-reading the rollout once it answers")
		assert.Contains(t, e.log.String(), "another deploy needs force: true", "the lock it could not release is explained")
		assert.Less(t, took, 45*time.Second, "bounded: the timeout, the re-read and the lock release")
		t.Logf("gave up %s after the start with a 6s timeout: %s", took.Round(100*time.Millisecond), res.FailureReason)

		p.Heal() // the API server is back: a forced deploy converges
		o = e.opts("ghcr.io/acme/erlmcp:1.2.0")
		o.Force = true
		res, err = e.dp.Run(e.ctx, o)
		require.NoError(t, err)
		assert.Equal(t, deploy.StatusSucceeded, res.Status)
		e.assertServing("ghcr.io/acme/erlmcp:1.2.0")
		e.assertNoLock()
	})
	t.Run("500 at the deadline, then the API answers: decided on facts", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p, _ := e.viaProxy()
		stop := e.after("patched container", func() { p.Fail(http.StatusInternalServerError, "", 9*time.Second) })
		img := "ghcr.io/acme/erlmcp:1.1.0-slowstart-2s"
		o := e.opts(img)
		o.Timeout = 6 * time.Second
		res, err := e.dp.Run(e.ctx, o)
		stop()
		require.NoError(t, err, "the rollout finished while the API server failed: re-read, it is a success")
		assert.Equal(t, deploy.StatusSucceeded, res.Status)
		assert.False(t, res.RolledBack)
		assert.Contains(t, e.log.String(), "the API server answers again: succeeded")
		e.assertServing(img)
		revs, err := history.List(e.ctx, cluster.Client, e.deployment())
		require.NoError(t, err)
		assert.True(t, revs[0].Successful, "verified on facts")
		e.assertNoLock()
	})
}
