package deploy_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/org/erlmcp-deploy/internal/deploy"
	"github.com/org/erlmcp-deploy/internal/history"
	"github.com/org/erlmcp-deploy/internal/testcluster"
	"github.com/org/erlmcp-deploy/internal/ui"
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
