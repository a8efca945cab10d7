package rollback_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/app/rollback"
	"github.com/org/erlmcp-deploy/internal/cli"
	"github.com/org/erlmcp-deploy/internal/deploy"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/ghaction/steptest"
	"github.com/org/erlmcp-deploy/internal/notify/slackfake"
	"github.com/org/erlmcp-deploy/internal/testcluster"
	"github.com/org/erlmcp-deploy/internal/ui"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) { testcluster.Main(m, &cluster) }

const (
	v1 = "ghcr.io/acme/erlmcp:1.0.0"
	v2 = "ghcr.io/acme/erlmcp:1.1.0"
)

var seq atomic.Int32

// twoRevisions makes a namespace whose Deployment ran v1 (revision 1) then v2 (revision 2, current).
func twoRevisions(t *testing.T) (string, *testcluster.Identity) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := fmt.Sprintf("app-rollback-%d", seq.Add(1))
	id, err := cluster.Deployer(ctx, ns)
	require.NoError(t, err)
	require.NoError(t, cluster.CreateAvailable(ctx, ns, testcluster.Deployment("erlmcp", v1, 2)))
	_, err = (&deploy.Deployer{Client: id.Client, Log: ui.Discard{}}).Run(ctx, deploy.Options{Environment: "production", Namespace: ns,
		Deployment: "erlmcp", Image: v2, Timeout: time.Minute, FailFast: true, ChangeCause: "deploy " + v2, Holder: "setup", BackupDir: t.TempDir()})
	require.NoError(t, err)
	return ns, id
}

func runAction(t *testing.T, kubeconfig string, inputs map[string]string) steptest.Step {
	t.Helper()
	return steptest.Run(t, actionspec.Rollback(), rollback.Run, inputs, map[string]string{"KUBECONFIG": kubeconfig,
		"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/erlmcp", "GITHUB_RUN_ID": "7"})
}

func TestListOutputsTheHistory(t *testing.T) {
	t.Parallel()
	ns, id := twoRevisions(t)
	s := runAction(t, id.Kubeconfig, map[string]string{"environment": "production", "namespace": ns, "list": "true"})
	require.Equal(t, 0, s.Code, s.Log)
	assert.Equal(t, "listed", s.Output("status"))
	assert.Equal(t, "2", s.Output("revision"))
	assert.Equal(t, v2, s.Output("image"))
	var hist []map[string]any
	require.NoError(t, json.Unmarshal([]byte(s.Output("history")), &hist))
	require.Len(t, hist, 2)
	assert.Equal(t, float64(2), hist[0]["revision"])
	assert.Equal(t, true, hist[0]["current"])
	assert.Equal(t, true, hist[0]["successful"])
	assert.Equal(t, "deploy "+v2, hist[0]["change-cause"])
	assert.Equal(t, []any{v1}, hist[1]["images"])
	assert.Contains(t, s.Log, "REVISION  IMAGES")
	assert.Contains(t, s.Summary, "### History")
}

func TestProductionNeedsConfirmation(t *testing.T) {
	t.Parallel()
	ns, id := twoRevisions(t)
	for _, tc := range []struct{ confirm, want string }{
		{"", "::error title=Invalid input confirm::is required to roll back production; accepted values: production"},
		{"prodution", `::error title=Invalid input confirm::"prodution" does not match the environment "production"`},
	} {
		s := runAction(t, id.Kubeconfig, map[string]string{"environment": "production", "namespace": ns, "confirm": tc.confirm})
		assert.Equal(t, ghaction.ExitBadInput, s.Code)
		assert.Contains(t, s.Log, tc.want)
	}
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, v2, d.Spec.Template.Spec.Containers[0].Image, "nothing changed")

	const slackToken = "xoxb-rollback-S3cret"
	fake, api := slackfake.New(t, slackToken)
	s := steptest.Run(t, actionspec.Rollback(), rollback.Run, map[string]string{"environment": "production", "namespace": ns,
		"confirm": "production", "kubeconfig": readFile(t, id.Kubeconfig), "slack-token": slackToken, "slack-channel": "C0DEPLOYS"},
		map[string]string{"ERLMCP_SLACK_API_URL": api})
	require.Equal(t, 0, s.Code, s.Log)
	assert.NotEmpty(t, fake.Calls(), "Slack was told")
	assert.Empty(t, s.Leaks(slackToken), "the Slack token leaks")
	assert.Empty(t, s.Leaks(id.Token), "the kubeconfig token leaks")
	assert.Equal(t, "succeeded", s.Output("status"))
	assert.Equal(t, "2", s.Output("from-revision"))
	assert.Equal(t, "3", s.Output("revision"))
	assert.Equal(t, v1, s.Output("image"))
	assert.Contains(t, s.Summary, "| before | 2 | "+v2+" |")
	assert.Contains(t, s.Summary, "| after | 3 | "+v1+" |")
}

func TestUnknownRevisionListsTheValidOnes(t *testing.T) {
	t.Parallel()
	ns, id := twoRevisions(t)
	s := runAction(t, id.Kubeconfig, map[string]string{"environment": "staging", "namespace": ns, "to": "9"})
	assert.Equal(t, ghaction.ExitFailed, s.Code)
	assert.Contains(t, s.Log, "::error::revision 9 not found; the history holds 2, 1; nothing was changed")
	assert.Equal(t, "failed", s.Output("status"))
}

// TestCLIListPrintsTheTable is `erlmcp-deploy rollback --list` on a laptop.
func TestCLIListPrintsTheTable(t *testing.T) {
	t.Parallel()
	ns, id := twoRevisions(t)
	var stdout, stderr bytes.Buffer
	env := map[string]string{"KUBECONFIG": id.Kubeconfig}
	code := cli.Main(context.Background(), []string{"rollback", "--list", "--environment", "staging", "--namespace", ns},
		cli.Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }},
		[]cli.Command{{Spec: actionspec.Rollback(), Run: rollback.Run}})
	require.Equal(t, 0, code, stdout.String()+stderr.String())
	out := stdout.String()
	assert.Contains(t, out, "revision history of deployment "+ns+"/erlmcp")
	assert.Regexp(t, `(?m)^\s*2\s+`+v2+`\s+\S+\s+deploy `+v2+`\s+current, successful$`, out)
	assert.Regexp(t, `(?m)^\s*1\s+`+v1+`\s+`, out)
}

// TestSIGTERMWhileRollingBack stops the real CLI the way a runner cancels a
// job, while it waits for a rollback's rollout: it exits promptly with 130,
// releases the lock, says the rollback was in flight and what is serving,
// and the next run converges.
func TestSIGTERMWhileRollingBack(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns, id := twoRevisions(t)
	const neverready = "ghcr.io/acme/erlmcp:1.2.0-fault-neverready"
	dp := &deploy.Deployer{Client: id.Client, Log: ui.Discard{}}
	_, err := dp.Run(ctx, deploy.Options{Environment: "staging", Namespace: ns, Deployment: "erlmcp", Image: neverready, Timeout: 2 * time.Second,
		FailFast: true, ChangeCause: "deploy " + neverready, Holder: "setup", BackupDir: t.TempDir()})
	require.Error(t, err, "revision 3 never becomes ready; kept (no rollback) for the history")
	_, err = dp.Run(ctx, deploy.Options{Environment: "staging", Namespace: ns, Deployment: "erlmcp", Image: v2, Timeout: time.Minute,
		FailFast: true, ChangeCause: "deploy " + v2, Holder: "setup", BackupDir: t.TempDir()})
	require.NoError(t, err)

	term := testcluster.TermAfter(t, []string{"rollback", "--environment", "staging", "--namespace", ns, "--to", "3", "--timeout", "2m"},
		[]string{"KUBECONFIG=" + id.Kubeconfig}, "Rollout of revision 3", 300*time.Millisecond)
	assert.Equal(t, ghaction.ExitCancelled, term.Code, term.Output)
	assert.Less(t, term.Took, 5*time.Second, "exits promptly")
	t.Logf("exited %s after SIGTERM", term.Took.Round(time.Millisecond))
	assert.Contains(t, term.Output, "cancelled while rolling back to revision 3: the rollback was in flight; deployment erlmcp")
	assert.Contains(t, term.Output, "to finish it run rollback with to: "+neverready)
	_, err = cluster.Client.CoordinationV1().Leases(ns).Get(ctx, "erlmcp-deploy.erlmcp", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "lock released: %v", err)

	s := runAction(t, id.Kubeconfig, map[string]string{"environment": "staging", "namespace": ns, "to": v2})
	require.Equal(t, 0, s.Code, s.Log)
	assert.Equal(t, "succeeded", s.Output("status"), "the next run converges")
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, v2, d.Spec.Template.Spec.Containers[0].Image)
	assert.Equal(t, int32(2), d.Status.AvailableReplicas)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}
