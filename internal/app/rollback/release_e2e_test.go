package rollback_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/app/rollback"
	"github.com/org/erlmcp-deploy/internal/apply"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/ghaction/steptest"
	"github.com/org/erlmcp-deploy/internal/inventory"
	"github.com/org/erlmcp-deploy/internal/manifest"
	"github.com/org/erlmcp-deploy/internal/notify/slackfake"
	"github.com/org/erlmcp-deploy/internal/testcluster"
	"github.com/org/erlmcp-deploy/internal/ui"
)

const (
	rel1Image = "ghcr.io/acme/erlmcp:1.1.0"
	rel2Image = "ghcr.io/acme/erlmcp:1.2.0"
	dashboard = "ghcr.io/acme/erlmcp-dashboard:1.0.0"
	extraCM   = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: erlmcp-extra\ndata:\n  feature: \"on\"\n"
)

// releaseDir is the example release for this test (testcluster.ExampleRelease).
func releaseDir(t *testing.T, files map[string]string, replace ...string) string {
	t.Helper()
	return testcluster.ExampleRelease(t, files, replace...)
}

// twoReleases makes a namespace where release erlmcp was deployed twice
// with the apply engine, as the least-privilege identity: revision 1 (the
// example release, erlmcp 1.1.0), then revision 2 (erlmcp 1.2.0, port 8081
// in the ConfigMap, the Ingress pruned, ConfigMap erlmcp-extra added).
func twoReleases(t *testing.T) (string, *testcluster.Identity) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := fmt.Sprintf("app-rollback-rel-%d", seq.Add(1))
	id, err := cluster.Deployer(ctx, ns)
	require.NoError(t, err)
	log := &ui.Buffer{}
	eng, err := apply.New(id.Config, id.Client, ui.NewText(log, false))
	require.NoError(t, err)
	for i, rev := range []struct {
		dir   string
		image string
	}{
		{releaseDir(t, nil), rel1Image},
		{releaseDir(t, map[string]string{"ingress.yaml": "", "extra.yaml": extraCM}, "{port, 8080}", "{port, 8081}"), rel2Image},
	} {
		images := manifest.Images{}
		require.NoError(t, images.Add(rev.image))
		res, err := eng.Run(ctx, apply.Options{Environment: "staging", Namespace: ns, Release: "erlmcp", Manifests: []string{rev.dir},
			Images: images, Required: []string{"ghcr.io/acme/erlmcp"}, Prune: true, Timeout: 2 * time.Minute, FailFast: true,
			RollbackOnFailure: true, Holder: "setup", ChangeCause: fmt.Sprintf("deploy revision %d", i+1)})
		require.NoError(t, err, log.String())
		require.Equal(t, i+1, res.Revision)
	}
	return ns, id
}

func configData(t *testing.T, ns, name, key string) string {
	t.Helper()
	cm, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return cm.Data[key]
}

func exists(t *testing.T, get func(context.Context) error) bool {
	t.Helper()
	err := get(context.Background())
	if apierrors.IsNotFound(err) {
		return false
	}
	require.NoError(t, err)
	return true
}

func releases(t *testing.T, ns string) []inventory.Release {
	t.Helper()
	revs, err := inventory.Store{Client: cluster.Client, Namespace: ns}.List(context.Background(), "erlmcp")
	require.NoError(t, err)
	return revs
}

// TestReleaseListAndRefusals: a namespace holding release history puts the
// rollback action in release mode: list prints the release's revisions; an
// image target, a missing revision and a dry run change nothing.
func TestReleaseListAndRefusals(t *testing.T) {
	t.Parallel()
	ns, id := twoReleases(t)

	s := runAction(t, id.Kubeconfig, map[string]string{"environment": "staging", "namespace": ns, "list": "true"})
	require.Equal(t, 0, s.Code, s.Log)
	assert.Equal(t, "listed", s.Output("status"))
	assert.Equal(t, "2", s.Output("revision"))
	assert.Equal(t, dashboard+","+rel2Image, s.Output("image"))
	var hist []map[string]any
	require.NoError(t, json.Unmarshal([]byte(s.Output("history")), &hist))
	require.Len(t, hist, 2)
	assert.Equal(t, float64(2), hist[0]["revision"])
	assert.Equal(t, "deployed", hist[0]["status"])
	assert.Equal(t, float64(10), hist[0]["objects"])
	assert.Equal(t, "deploy revision 2", hist[0]["cause"])
	assert.Equal(t, "superseded", hist[1]["status"])
	assert.Equal(t, []any{dashboard, rel1Image}, hist[1]["images"])
	assert.NotEmpty(t, hist[1]["time"])
	assert.Contains(t, s.Log, "namespace "+ns+" holds the history of release erlmcp (2 revisions)")
	assert.Contains(t, s.Log, "revision history of release "+ns+"/erlmcp (newest first)")
	assert.Regexp(t, `(?m)^REVISION\s+STATUS\s+IMAGES\s+OBJECTS\s+TIME\s+CAUSE\s+NOTES$`, s.Log)
	assert.Regexp(t, `(?m)^2\s+deployed\s+`+dashboard+`, `+rel2Image+`\s+10\s+\S+\s+deploy revision 2\s*$`, s.Log)
	assert.Contains(t, s.Summary, "## 📜 Revisions of release "+ns+"/erlmcp (staging)")
	assert.Contains(t, s.Summary, "### History")

	// An image is no release target: input error, before anything.
	for _, in := range []map[string]string{{}, {"release": "erlmcp"}} {
		in["environment"], in["namespace"], in["to"] = "staging", ns, rel1Image
		s = runAction(t, id.Kubeconfig, in)
		assert.Equal(t, ghaction.ExitBadInput, s.Code, s.Log)
		assert.Contains(t, s.Log, "::error title=Invalid input to::an image only works for a Deployment; in release mode give a revision")
	}

	// A revision that does not exist: the error lists those that do.
	s = runAction(t, id.Kubeconfig, map[string]string{"environment": "staging", "namespace": ns, "to": "9"})
	assert.Equal(t, ghaction.ExitFailed, s.Code, s.Log)
	assert.Contains(t, s.Log, "::error::revision 9 not found; the history of release erlmcp holds 2, 1; nothing was changed")
	assert.Equal(t, "failed", s.Output("status"))
	assert.Equal(t, "2", s.Output("from-revision"))

	// A dry run says what would be re-applied, created and deleted.
	s = runAction(t, id.Kubeconfig, map[string]string{"environment": "staging", "namespace": ns, "to": "previous", "dry-run": "true"})
	require.Equal(t, 0, s.Code, s.Log)
	assert.Equal(t, "succeeded", s.Output("status"))
	assert.Equal(t, "2", s.Output("revision"))
	assert.Contains(t, s.Log, "dry run: the rollback would restore revision 1 of release erlmcp (10 objects applied, 1 deleted); nothing was changed")
	assert.Contains(t, s.Summary, "| `Ingress/erlmcp` | create |")
	assert.Contains(t, s.Summary, "| `ConfigMap/erlmcp-config` | apply |")
	assert.Contains(t, s.Summary, "| `ConfigMap/erlmcp-extra` | delete |")

	// Nothing changed.
	assert.Contains(t, configData(t, ns, "erlmcp-config", "sys.config"), "{port, 8081}")
	assert.Equal(t, "on", configData(t, ns, "erlmcp-extra", "feature"))
	revs := releases(t, ns)
	require.Len(t, revs, 2)
	assert.Equal(t, inventory.Deployed, revs[0].Status)
	_, err := cluster.Client.CoordinationV1().Leases(ns).Get(context.Background(), "erlmcp-deploy.erlmcp", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "no lock left: %v", err)
}

// TestReleaseRollbackToPrevious: `to: previous` puts revision 1 back as a
// whole, recorded as revision 3, and marks revision 2 failed; asking for
// revision 1 again changes nothing.
func TestReleaseRollbackToPrevious(t *testing.T) {
	t.Parallel()
	ns, id := twoReleases(t)
	ctx := context.Background()

	const slackToken = "xoxb-release-rollback-S3cret"
	fake, api := slackfake.New(t, slackToken)
	start := time.Now()
	s := steptest.Run(t, actionspec.Rollback(), rollback.Run, map[string]string{"environment": "production", "confirm": "production",
		"namespace": ns, "to": "previous", "slack-token": slackToken, "slack-channel": "C0DEPLOYS"},
		map[string]string{"KUBECONFIG": id.Kubeconfig, "ERLMCP_SLACK_API_URL": api,
			"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/erlmcp", "GITHUB_RUN_ID": "7"})
	require.Equal(t, 0, s.Code, s.Log)
	t.Logf("release rollback took %s", time.Since(start).Round(100*time.Millisecond))
	assert.Empty(t, s.Leaks(id.Token), "the kubeconfig token leaks")
	assert.Empty(t, s.Leaks(slackToken), "the Slack token leaks")
	calls := fake.Calls()
	require.Len(t, calls, 2, "one message, posted then updated")
	final := fake.Message(s.Output("slack-ts"))
	assert.Contains(t, final.Get("blocks")+final.Get("attachments"), "rolled", "Slack hears of the rollback")
	assert.Contains(t, final.Get("blocks")+final.Get("attachments"), ns+"/erlmcp")
	assert.Equal(t, "succeeded", s.Output("status"))
	assert.Equal(t, "3", s.Output("revision"))
	assert.Equal(t, "2", s.Output("from-revision"))
	assert.Equal(t, dashboard+","+rel1Image, s.Output("image"))
	assert.Contains(t, s.Log, "::group::Verify the restored revision 1")
	assert.Contains(t, s.Log, "deleted ConfigMap/erlmcp-extra (not in revision 1)")
	assert.Contains(t, s.Log, "revision 2 (rolled back from) is recorded as failed")
	assert.Contains(t, s.Summary, "## ↩️ Rolled back release "+ns+"/erlmcp in production")
	assert.Contains(t, s.Summary, "| before | 2 | "+dashboard+", "+rel2Image+" |")
	assert.Contains(t, s.Summary, "| after | 3 | "+dashboard+", "+rel1Image+" |")
	assert.Contains(t, s.Summary, "| `ConfigMap/erlmcp-extra` | deleted |")
	assert.Contains(t, s.Summary, "| `Ingress/erlmcp` | created | ready |")

	// The whole of revision 1 is back.
	assert.Contains(t, configData(t, ns, "erlmcp-config", "sys.config"), "{port, 8080}", "the ConfigMap content of revision 1")
	assert.False(t, exists(t, func(ctx context.Context) error {
		_, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(ctx, "erlmcp-extra", metav1.GetOptions{})
		return err
	}), "the object only revision 2 had is deleted")
	assert.True(t, exists(t, func(ctx context.Context) error {
		_, err := cluster.Client.NetworkingV1().Ingresses(ns).Get(ctx, "erlmcp", metav1.GetOptions{})
		return err
	}), "the Ingress revision 2 pruned is re-created")
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, rel1Image, d.Spec.Template.Spec.Containers[0].Image)
	revs := releases(t, ns)
	require.Len(t, revs, 3)
	assert.Equal(t, inventory.Deployed, revs[0].Status, "revision 3 records the restore")
	assert.Equal(t, 1, revs[0].RolledBackFrom)
	assert.Equal(t, inventory.Failed, revs[1].Status, "revision 2 (rolled back from) is failed")
	assert.Equal(t, "rolled back from by https://github.com/acme/erlmcp/actions/runs/7", revs[1].Reason)
	assert.Equal(t, inventory.Superseded, revs[2].Status)
	_, err = cluster.Client.CoordinationV1().Leases(ns).Get(ctx, "erlmcp-deploy.erlmcp", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "lock released: %v", err)
	var hist []map[string]any
	require.NoError(t, json.Unmarshal([]byte(s.Output("history")), &hist))
	require.Len(t, hist, 3)
	assert.Equal(t, float64(1), hist[0]["rolledBackFrom"])
	assert.Equal(t, "failed", hist[1]["status"])

	// Revision 1 already serves (as revision 3): nothing to do.
	s = runAction(t, id.Kubeconfig, map[string]string{"environment": "staging", "namespace": ns, "to": "1"})
	require.Equal(t, 0, s.Code, s.Log)
	assert.Equal(t, "unchanged", s.Output("status"))
	assert.Equal(t, "3", s.Output("revision"))
	assert.Contains(t, s.Log, "release erlmcp already serves revision 1's manifests (revision 3, verified): nothing to roll back")
	assert.Contains(t, s.Summary, "## ➖ Nothing to roll back in release "+ns+"/erlmcp (staging)")

	// Nothing verified is left before what serves: previous says so.
	s = runAction(t, id.Kubeconfig, map[string]string{"environment": "staging", "namespace": ns, "to": "previous"})
	assert.Equal(t, ghaction.ExitFailed, s.Code, s.Log)
	assert.Contains(t, s.Log, "::error::release erlmcp has no verified revision before revision 3, the one serving")
	assert.Len(t, releases(t, ns), 3, "nothing recorded")
}
