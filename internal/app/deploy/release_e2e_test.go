package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/org/erlmcp-deploy/internal/canary"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/progressive"
	"github.com/org/erlmcp-deploy/internal/testcluster"
)

// emptyTarget is a namespace with only the deployer identity in it.
func emptyTarget(t *testing.T) (string, string, *testcluster.Identity) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := fmt.Sprintf("app-release-%d", seq.Add(1))
	id, err := cluster.Deployer(ctx, ns)
	require.NoError(t, err)
	kc, err := os.ReadFile(id.Kubeconfig)
	require.NoError(t, err)
	return ns, string(kc), id
}

// exampleRelease is the example release as it is (testcluster.ExampleRelease).
func exampleRelease(t *testing.T) string {
	t.Helper()
	return testcluster.ExampleRelease(t, nil)
}

func TestDeployActionRelease(t *testing.T) {
	t.Parallel()
	ns, kc, id := emptyTarget(t)
	dir := exampleRelease(t)
	in := map[string]string{"environment": "staging", "namespace": ns, "kubeconfig": kc, "manifests": dir,
		"image": "ghcr.io/acme/erlmcp:1.1.0", "images": "ghcr.io/acme/erlmcp-dashboard=ghcr.io/acme/erlmcp-dashboard:1.1.0"}
	s := runAction(t, in)
	require.Equal(t, 0, s.Code, s.Log)
	assert.Equal(t, "succeeded", s.Output("status"))
	assert.Equal(t, "1", s.Output("revision"))
	assert.Equal(t, "erlmcp", s.Output("release"))
	var objs []map[string]string
	require.NoError(t, json.Unmarshal([]byte(s.Output("objects")), &objs))
	assert.Len(t, objs, 10)
	assert.Contains(t, s.Log, "::group::Verify revision 1 of release erlmcp")
	assert.Contains(t, s.Summary, "## ✅ Release erlmcp deployed to staging")
	assert.Contains(t, s.Summary, "| `Deployment/erlmcp-dashboard` | created | ready |")
	assertNoSecret(t, s, id.Token)
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "erlmcp-dashboard", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "ghcr.io/acme/erlmcp-dashboard:1.1.0", d.Spec.Template.Spec.Containers[0].Image)

	// A canary of the dashboard left by a dead run (its workload and its record): the next release deploy
	// undoes it first, under the release's lock, as every other deploy does.
	left := canary.Workload(d, canary.TrackCanary, "ghcr.io/acme/erlmcp-dashboard:9.9.9", "dashboard", nil, 1)
	_, err = cluster.Client.AppsV1().Deployments(ns).Create(context.Background(), left, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, progressive.Write(context.Background(), cluster.Client, ns, "erlmcp-dashboard", &progressive.State{Strategy: progressive.StrategyCanary,
		Image: "ghcr.io/acme/erlmcp-dashboard:9.9.9", Run: "a dead run", Started: time.Now(), Step: 1, Percent: 50, Workloads: []string{left.Name}}))

	// A bad dashboard: the whole release goes back to revision 1.
	in["images"] = "ghcr.io/acme/erlmcp-dashboard=ghcr.io/acme/erlmcp-dashboard:1.2.0-fault-crashloop"
	in["image"] = "ghcr.io/acme/erlmcp:1.2.0"
	s = runAction(t, in)
	assert.Equal(t, ghaction.ExitFailed, s.Code, s.Log)
	assert.Equal(t, "rolled-back", s.Output("status"))
	assert.Equal(t, "3", s.Output("revision"), "revision 3 records the restore of revision 1")
	assert.Contains(t, s.Output("failure-reason"), "Deployment/erlmcp-dashboard")
	assert.Contains(t, s.Summary, "### Diagnostics of Deployment/erlmcp-dashboard")
	d, err = cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.1.0", d.Spec.Template.Spec.Containers[0].Image, "erlmcp, which was fine, went back too")
	assert.Contains(t, s.Log, "undid the unfinished canary of ghcr.io/acme/erlmcp-dashboard:9.9.9 started by a dead run")
	assertNoCanaries(t, ns)
	d, err = cluster.Client.AppsV1().Deployments(ns).Get(context.Background(), "erlmcp-dashboard", metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotContains(t, d.Annotations, progressive.StateAnnotation)
}

func TestDeployActionReleaseBadInput(t *testing.T) {
	t.Parallel()
	ns, kc, _ := emptyTarget(t)
	dir := exampleRelease(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "zz-bad.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: bad\nspec:\n  portz: []\n"), 0o644))
	for _, tc := range []struct {
		name   string
		inputs map[string]string
		want   string
	}{
		{"rejected field", map[string]string{"manifests": dir}, "::error file=" + filepath.Join(dir, "zz-bad.yaml") + ",line=6,title=Invalid input manifests::"},
		{"missing file", map[string]string{"manifests": filepath.Join(dir, "nope.yaml")}, "::error file=" + filepath.Join(dir, "nope.yaml") + ",title=Invalid input manifests::"},
		{"bad images line", map[string]string{"manifests": dir, "images": "ghcr.io/acme/erlmcp-dashboard"}, "::error title=Invalid input images::"},
		{"image of no container", map[string]string{"manifests": dir, "image": "ghcr.io/acme/other:1.0.0"}, "::error title=Invalid input image::"},
		{"no image and no manifests", map[string]string{}, "::error title=Invalid input image::is required unless manifests is set"},
		{"release name", map[string]string{"manifests": dir, "release": "Not_A_Name"}, "::error title=Invalid input release::"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := map[string]string{"environment": "staging", "namespace": ns, "kubeconfig": kc}
			for k, v := range tc.inputs {
				in[k] = v
			}
			s := runAction(t, in)
			assert.Equal(t, ghaction.ExitBadInput, s.Code, s.Log)
			assert.Contains(t, s.Log, tc.want)
		})
	}
	cms, err := cluster.Client.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	for _, cm := range cms.Items {
		assert.Equal(t, "kube-root-ca.crt", cm.Name, "nothing was created")
	}
}
