package rollback_test

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/org/erlmcp-deploy/internal/deploy"
	"github.com/org/erlmcp-deploy/internal/history"
	"github.com/org/erlmcp-deploy/internal/lock"
	"github.com/org/erlmcp-deploy/internal/rollback"
	"github.com/org/erlmcp-deploy/internal/rollout"
	"github.com/org/erlmcp-deploy/internal/testcluster"
	"github.com/org/erlmcp-deploy/internal/ui"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) { testcluster.Main(m, &cluster) }

const (
	v10      = "ghcr.io/acme/erlmcp:1.0.0"
	v11      = "ghcr.io/acme/erlmcp:1.1.0"
	v12crash = "ghcr.io/acme/erlmcp:1.2.0-fault-crashloop"
	v13pull  = "ghcr.io/acme/erlmcp:1.3.0-fault-imagepull"
)

var seq atomic.Int32

// withHistory makes a namespace whose Deployment went through three deploys:
// 1 = v1.0 (created), 2 = v1.1 (verified), 3 = v1.2 crash loop (failed, kept),
// 4 = v1.3 image pull (failed, kept, current).
func withHistory(t *testing.T) (context.Context, string, *rollback.Roller, *ui.Buffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	ns := fmt.Sprintf("rollback-%d", seq.Add(1))
	id, err := cluster.Deployer(ctx, ns)
	require.NoError(t, err)
	d := testcluster.Deployment("erlmcp", v10, 2)
	d.Annotations = map[string]string{history.ChangeCauseAnnotation: "initial v1.0.0"}
	require.NoError(t, cluster.CreateAvailable(ctx, ns, d))
	dp := &deploy.Deployer{Client: id.Client, Log: ui.Discard{}}
	for _, img := range []string{v11, v12crash, v13pull} {
		_, err := dp.Run(ctx, deploy.Options{Environment: "staging", Namespace: ns, Deployment: "erlmcp", Image: img, Timeout: time.Minute,
			FailFast: true, RollbackOnFailure: false, ChangeCause: "deploy " + img, Holder: "setup", BackupDir: t.TempDir(),
			Rollout: rollout.Options{CrashLoopRestarts: 1}})
		if img == v11 {
			require.NoError(t, err)
		} else {
			require.Error(t, err, "a bad release kept for the history")
		}
	}
	log := &ui.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("rollback log:\n%s", log.String())
		}
	})
	return ctx, ns, &rollback.Roller{Client: id.Client, Log: ui.NewText(log, false)}, log
}

func opts(ns, to string) rollback.Options {
	return rollback.Options{Environment: "staging", Namespace: ns, Deployment: "erlmcp", To: to, Timeout: time.Minute, Holder: "test"}
}

func image(t *testing.T, ctx context.Context, ns string) string {
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	return d.Spec.Template.Spec.Containers[0].Image
}

func TestListShowsTheHistoryLikeKubectl(t *testing.T) {
	t.Parallel()
	ctx, ns, r, _ := withHistory(t)
	_, revs, err := r.List(ctx, ns, "erlmcp")
	require.NoError(t, err)
	require.Len(t, revs, 4)
	var got []string
	for _, rv := range revs {
		got = append(got, fmt.Sprintf("%d %s %q current=%t successful=%t failed=%t", rv.Number, rv.Images[0], rv.ChangeCause, rv.Current, rv.Successful, rv.Failed != ""))
	}
	assert.Equal(t, []string{
		`4 ` + v13pull + ` "deploy ` + v13pull + `" current=true successful=false failed=true`,
		`3 ` + v12crash + ` "deploy ` + v12crash + `" current=false successful=false failed=true`,
		`2 ` + v11 + ` "deploy ` + v11 + `" current=false successful=true failed=false`,
		`1 ` + v10 + ` "initial v1.0.0" current=false successful=true failed=false`,
	}, got, "1 was presumed good when first adopted; 3 and 4 failed")

	kubectl, err := exec.LookPath("kubectl")
	require.NoError(t, err, "kubectl is the second opinion here (preinstalled on these machines)")
	out, err := exec.CommandContext(ctx, kubectl, "--kubeconfig", cluster.Kubeconfig, "-n", ns, "rollout", "history", "deployment/erlmcp").CombinedOutput()
	require.NoError(t, err, string(out))
	rows := regexp.MustCompile(`(?m)^(\d+)\s+(.*?)\s*$`).FindAllStringSubmatch(string(out), -1)
	require.Len(t, rows, 4, string(out))
	for i, row := range rows { // kubectl lists oldest first
		rv := revs[len(revs)-1-i]
		assert.Equal(t, fmt.Sprint(rv.Number), row[1])
		assert.Equal(t, rv.ChangeCause, row[2])
	}
}

func TestRollbackTargets(t *testing.T) {
	t.Parallel()
	cases := []struct {
		to, want string
		revision int64
	}{
		{"1", v10, 1},
		{rollback.ToLastSuccessful, v11, 2},
		{v11, v11, 2},
	}
	for _, tc := range cases {
		t.Run(tc.to, func(t *testing.T) {
			t.Parallel()
			ctx, ns, r, log := withHistory(t)
			res, err := r.Run(ctx, opts(ns, tc.to))
			require.NoError(t, err)
			assert.Equal(t, rollback.StatusSucceeded, res.Status)
			assert.Equal(t, tc.revision, res.Target.Number)
			assert.Equal(t, int64(4), res.FromRevision)
			assert.Equal(t, int64(5), res.Revision, "the old template comes back as a new revision")
			assert.Equal(t, tc.want, image(t, ctx, ns))
			assert.Equal(t, []string{tc.want}, res.Images)
			assert.Contains(t, log.String(), fmt.Sprintf("rolled back from revision 4 (%s) to revision %d's template", v13pull, tc.revision))
			require.NotEmpty(t, res.History)
			assert.True(t, res.History[0].Current)
			assert.True(t, res.History[0].Successful, "a verified rollback marks its revision successful")
		})
	}
}

func TestRollbackToAFailingRevisionIsReportedFailed(t *testing.T) {
	t.Parallel()
	ctx, ns, r, _ := withHistory(t)
	res, err := r.Run(ctx, opts(ns, rollback.ToPrevious)) // previous = 3, the crash loop: helm rollback 0 would go there too
	require.Error(t, err)
	assert.Equal(t, rollback.StatusFailed, res.Status)
	assert.Equal(t, int64(3), res.Target.Number)
	assert.Contains(t, err.Error(), "the rollback to revision 3 failed: ")
	assert.Contains(t, err.Error(), ": CrashLoopBackOff: ")
	require.NotNil(t, res.Diagnostics)
	assert.Contains(t, res.Diagnostics.Text(), "CrashLoopBackOff")
}

func TestRollbackRefusals(t *testing.T) {
	t.Parallel()
	ctx, ns, r, _ := withHistory(t)
	before, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)

	_, err = r.Run(ctx, opts(ns, "7"))
	assert.EqualError(t, err, "revision 7 not found; the history holds 4, 3, 2, 1; nothing was changed")

	_, err = r.Run(ctx, opts(ns, "ghcr.io/acme/erlmcp:0.9.0"))
	assert.ErrorContains(t, err, "no revision of deployment erlmcp ran ghcr.io/acme/erlmcp:0.9.0; revisions:")

	_, err = r.Run(ctx, opts(ns, "yesterday"))
	assert.ErrorContains(t, err, `"yesterday" is not previous, last-successful, a revision number or an image reference`)

	res, err := r.Run(ctx, opts(ns, "4"))
	require.NoError(t, err, "rolling back to the current revision is a no-op, not an error")
	assert.Equal(t, rollback.StatusUnchanged, res.Status)
	assert.Contains(t, res.Message, "already runs revision 4's template")

	o := opts(ns, "2")
	o.DryRun = true
	res, err = r.Run(ctx, o)
	require.NoError(t, err)
	assert.True(t, res.DryRun)

	after, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, before.Generation, after.Generation, "nothing changed in the spec")
	assert.Equal(t, before.Annotations, after.Annotations, "nothing changed in the annotations")

	_, err = cluster.Client.AppsV1().Deployments(ns).Patch(ctx, "erlmcp", "application/merge-patch+json", []byte(`{"spec":{"paused":true}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	_, err = r.Run(ctx, opts(ns, "2"))
	assert.ErrorContains(t, err, "is paused")
	assert.Equal(t, v13pull, image(t, ctx, ns))
	assert.True(t, strings.HasSuffix(err.Error(), "nothing was changed"))
}

// TestCancelAtEachPhase stops a rollback while it plans and while it waits:
// the lock is released, the state is printed, and the next run converges.
func TestCancelAtEachPhase(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		phase, at string
		says      []string
		image     string // serving when the run stopped
	}{
		{"plan", "current: revision 4", []string{"nothing was changed"}, v13pull},
		{"wait", "▸ Rollout of revision 2", []string{"cancelled while rolling back to revision 2: the rollback was in flight; deployment erlmcp",
			"to finish it run rollback with to: " + v11 + " (it waits for the rollout)"}, v11},
	} {
		t.Run(tc.phase, func(t *testing.T) {
			t.Parallel()
			ctx, ns, r, log := withHistory(t)
			stopped, cancel := context.WithCancel(ctx)
			cr := &rollback.Roller{Client: r.Client, Log: ui.NewText(testcluster.CancelOn(log, tc.at, cancel), false)}
			res, err := cr.Run(stopped, opts(ns, "2"))
			require.ErrorIs(t, err, context.Canceled)
			assert.Equal(t, rollback.StatusFailed, res.Status)
			for _, s := range tc.says {
				assert.Contains(t, log.String(), s)
			}
			assert.Equal(t, tc.image, image(t, ctx, ns))
			_, err = cluster.Client.CoordinationV1().Leases(ns).Get(ctx, lock.Name("erlmcp"), metav1.GetOptions{})
			assert.True(t, apierrors.IsNotFound(err), "the lock is released: %v", err)

			res, err = r.Run(ctx, opts(ns, v11))
			require.NoError(t, err, "the next run converges")
			d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "erlmcp", metav1.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, v11, d.Spec.Template.Spec.Containers[0].Image)
			assert.Equal(t, int32(2), d.Status.AvailableReplicas)
			assert.Equal(t, int32(2), d.Status.UpdatedReplicas)
			t.Logf("next run: %s", res.Message)
		})
	}
}
