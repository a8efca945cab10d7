package rollback_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/app/rollback"
	"github.com/org/erlmcp-deploy/internal/cli"
	"github.com/org/erlmcp-deploy/internal/deploy"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/ghaction/steptest"
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

	s := runAction(t, id.Kubeconfig, map[string]string{"environment": "production", "namespace": ns, "confirm": "production"})
	require.Equal(t, 0, s.Code, s.Log)
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
