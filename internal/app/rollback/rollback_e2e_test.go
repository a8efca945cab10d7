package rollback_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

type step struct {
	code                  int
	log, outputs, summary string
}

func runAction(t *testing.T, kubeconfig string, inputs map[string]string) step {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": filepath.Join(dir, "out"), "GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary"),
		"KUBECONFIG": kubeconfig, "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/erlmcp", "GITHUB_RUN_ID": "7"}
	for k, v := range inputs {
		env[ghaction.EnvName(k)] = v
	}
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := ghaction.New(actionspec.Rollback(), ghaction.WithGetenv(func(k string) string { return env[k] }), ghaction.WithWriter(&log)).Run(ctx, rollback.Run)
	out, _ := os.ReadFile(env["GITHUB_OUTPUT"])
	sum, _ := os.ReadFile(env["GITHUB_STEP_SUMMARY"])
	return step{code: code, log: log.String(), outputs: string(out), summary: string(sum)}
}

func output(s step, name string) string {
	i := strings.Index(s.outputs, name+"<<")
	if i < 0 {
		return "<unset>"
	}
	rest := s.outputs[i:]
	nl := strings.Index(rest, "\n")
	delim, body := rest[len(name)+2:nl], rest[nl+1:]
	return strings.TrimSuffix(body[:strings.Index(body, delim)], "\n")
}

func TestListOutputsTheHistory(t *testing.T) {
	t.Parallel()
	ns, id := twoRevisions(t)
	s := runAction(t, id.Kubeconfig, map[string]string{"environment": "production", "namespace": ns, "list": "true"})
	require.Equal(t, 0, s.code, s.log)
	assert.Equal(t, "listed", output(s, "status"))
	assert.Equal(t, "2", output(s, "revision"))
	assert.Equal(t, v2, output(s, "image"))
	var hist []map[string]any
	require.NoError(t, json.Unmarshal([]byte(output(s, "history")), &hist))
	require.Len(t, hist, 2)
	assert.Equal(t, float64(2), hist[0]["revision"])
	assert.Equal(t, true, hist[0]["current"])
	assert.Equal(t, true, hist[0]["successful"])
	assert.Equal(t, "deploy "+v2, hist[0]["change-cause"])
	assert.Equal(t, []any{v1}, hist[1]["images"])
	assert.Contains(t, s.log, "REVISION  IMAGES")
	assert.Contains(t, s.summary, "### History")
}

func TestProductionNeedsConfirmation(t *testing.T) {
	t.Parallel()
	ns, id := twoRevisions(t)
	for _, tc := range []struct{ confirm, want string }{
		{"", "::error title=Invalid input confirm::is required to roll back production; accepted values: production"},
		{"prodution", `::error title=Invalid input confirm::"prodution" does not match the environment "production"`},
	} {
		s := runAction(t, id.Kubeconfig, map[string]string{"environment": "production", "namespace": ns, "confirm": tc.confirm})
		assert.Equal(t, ghaction.ExitBadInput, s.code)
		assert.Contains(t, s.log, tc.want)
	}
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, v2, d.Spec.Template.Spec.Containers[0].Image, "nothing changed")

	s := runAction(t, id.Kubeconfig, map[string]string{"environment": "production", "namespace": ns, "confirm": "production"})
	require.Equal(t, 0, s.code, s.log)
	assert.Equal(t, "succeeded", output(s, "status"))
	assert.Equal(t, "2", output(s, "from-revision"))
	assert.Equal(t, "3", output(s, "revision"))
	assert.Equal(t, v1, output(s, "image"))
	assert.Contains(t, s.summary, "| before | 2 | "+v2+" |")
	assert.Contains(t, s.summary, "| after | 3 | "+v1+" |")
}

func TestUnknownRevisionListsTheValidOnes(t *testing.T) {
	t.Parallel()
	ns, id := twoRevisions(t)
	s := runAction(t, id.Kubeconfig, map[string]string{"environment": "staging", "namespace": ns, "to": "9"})
	assert.Equal(t, ghaction.ExitFailed, s.code)
	assert.Contains(t, s.log, "::error::revision 9 not found; the history holds 2, 1; nothing was changed")
	assert.Equal(t, "failed", output(s, "status"))
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
