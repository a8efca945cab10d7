package apply_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/org/erlmcp-deploy/internal/apply"
	"github.com/org/erlmcp-deploy/internal/inventory"
	"github.com/org/erlmcp-deploy/internal/manifest"
	"github.com/org/erlmcp-deploy/internal/testcluster"
	"github.com/org/erlmcp-deploy/internal/ui"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) { testcluster.Main(m, &cluster) }

const (
	erlmcpRepo    = "ghcr.io/acme/erlmcp"
	dashboardRepo = "ghcr.io/acme/erlmcp-dashboard"
)

// env is one test's empty namespace, the least-privilege deployer identity
// of examples/kubernetes/rbac.yaml, and an engine running as it.
type env struct {
	t   *testing.T
	ctx context.Context
	ns  string
	id  *testcluster.Identity
	log *ui.Buffer
	eng *apply.Engine
}

var nsSeq struct {
	sync.Mutex
	n int
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	nsSeq.Lock()
	nsSeq.n++
	ns := "rel-" + strings.ToLower(strings.ReplaceAll(t.Name(), "_", "-"))
	if len(ns) > 50 {
		ns = ns[:50]
	}
	ns = strings.TrimRight(ns, "-")
	nsSeq.Unlock()
	id, err := cluster.Deployer(ctx, ns)
	require.NoError(t, err)
	log := &ui.Buffer{}
	eng, err := apply.New(id.Config, id.Client, ui.NewText(log, false))
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("APPLY_LOG") != "" {
			t.Logf("engine log:\n%s", log.String())
		}
	})
	return &env{t: t, ctx: ctx, ns: ns, id: id, log: log, eng: eng}
}

// release is the example release for this test (testcluster.ExampleRelease).
func release(t *testing.T, edit map[string]string, replace ...string) string {
	t.Helper()
	return testcluster.ExampleRelease(t, edit, replace...)
}

func (e *env) opts(dir string, images ...string) apply.Options {
	im := manifest.Images{}
	var required []string
	for _, ref := range images {
		require.NoError(e.t, im.Add(ref))
		required = append(required, ref[:strings.LastIndex(ref, ":")])
	}
	return apply.Options{Environment: "test", Namespace: e.ns, Release: "erlmcp", Manifests: []string{dir}, Images: im, Required: required,
		Prune: true, Timeout: 2 * time.Minute, FailFast: true, RollbackOnFailure: true, Holder: e.t.Name(), ChangeCause: "test " + e.t.Name()}
}

func (e *env) run(opts apply.Options) (*apply.Result, error) {
	if os.Getenv("APPLY_LOG") != "" {
		e.t.Logf("engine log:\n%s", e.log.String())
	}
	e.log.Reset()
	return e.eng.Run(e.ctx, opts)
}

func (e *env) configData(name, key string) string {
	cm, err := cluster.Client.CoreV1().ConfigMaps(e.ns).Get(e.ctx, name, metav1.GetOptions{})
	require.NoError(e.t, err)
	return cm.Data[key]
}

func (e *env) exists(get func() error) bool {
	err := get()
	if apierrors.IsNotFound(err) {
		return false
	}
	require.NoError(e.t, err)
	return true
}

func (e *env) image(deployment string, init bool) string {
	d, err := cluster.Client.AppsV1().Deployments(e.ns).Get(e.ctx, deployment, metav1.GetOptions{})
	require.NoError(e.t, err)
	if init {
		return d.Spec.Template.Spec.InitContainers[0].Image
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

func (e *env) store() inventory.Store {
	return inventory.Store{Client: cluster.Client, Namespace: e.ns}
}

// kubectlRolloutStatus is kubectl's second opinion on a Deployment.
func (e *env) kubectlRolloutStatus(name string) error {
	out, err := exec.CommandContext(e.ctx, "kubectl", "--kubeconfig", cluster.Kubeconfig, "-n", e.ns, "rollout", "status",
		"deployment/"+name, "--timeout=60s").CombinedOutput()
	if err != nil {
		return &kubectlError{string(out), err}
	}
	return nil
}

type kubectlError struct {
	out string
	err error
}

func (k *kubectlError) Error() string { return k.err.Error() + ": " + k.out }

// TestReleaseLifecycle: a first deploy into an empty namespace; a second
// release that changes a ConfigMap, removes an object (pruned) and adds one;
// a bad release of two workloads where only the dashboard is doomed, which
// puts the whole previous set back.
func TestReleaseLifecycle(t *testing.T) {
	e := newEnv(t)

	// 1. First deploy: nothing of the release exists.
	res, err := e.run(e.opts(release(t, nil), erlmcpRepo+":1.1.0"))
	require.NoError(t, err, e.log.String())
	assert.Equal(t, apply.StatusSucceeded, res.Status)
	assert.Equal(t, 1, res.Revision)
	assert.Equal(t, 0, res.PreviousRevision)
	created := 0
	for _, o := range res.Objects {
		if o.Action == "created" {
			created++
		}
	}
	assert.Equal(t, 10, created, "every object of the release was created: %+v", res.Objects)
	assert.Equal(t, erlmcpRepo+":1.1.0", e.image("erlmcp", false))
	assert.Equal(t, erlmcpRepo+":1.1.0", e.image("erlmcp", true), "the init container of the same repository gets the image too")
	assert.Equal(t, dashboardRepo+":1.0.0", e.image("erlmcp-dashboard", false), "an image that matches no mapping is left alone")
	rel, err := e.store().LastDeployed(e.ctx, "erlmcp")
	require.NoError(t, err)
	require.NotNil(t, rel)
	assert.Equal(t, 1, rel.Revision)
	assert.Len(t, rel.Objects, 10)
	assert.Contains(t, e.log.String(), "this is its first deploy")

	// 2. A config change, a removed object (the Ingress) and a new one.
	extra := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: erlmcp-extra\ndata:\n  feature: \"on\"\n"
	dir2 := release(t, map[string]string{"ingress.yaml": "", "extra.yaml": extra}, "{port, 8080}", "{port, 8081}")
	res, err = e.run(e.opts(dir2, erlmcpRepo+":1.1.0"))
	require.NoError(t, err, e.log.String())
	assert.Equal(t, 2, res.Revision)
	assert.Equal(t, 1, res.PreviousRevision)
	assert.Contains(t, e.configData("erlmcp-config", "sys.config"), "{port, 8081}")
	assert.False(t, e.exists(func() error {
		_, err := cluster.Client.NetworkingV1().Ingresses(e.ns).Get(e.ctx, "erlmcp", metav1.GetOptions{})
		return err
	}), "the Ingress left the release: pruned")
	assert.Equal(t, "on", e.configData("erlmcp-extra", "feature"))
	assert.Contains(t, e.log.String(), "pruned Ingress")

	// 3. A bad release: erlmcp's new image is good, the dashboard's cannot be pulled.
	// It also changes the config, removes the Service erlmcp and adds a ConfigMap.
	svc, err := cluster.Client.CoreV1().Services(e.ns).Get(e.ctx, "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, svc.Spec.ClusterIP)
	other := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: erlmcp-new\ndata:\n  x: \"1\"\n"
	headless := "apiVersion: v1\nkind: Service\nmetadata:\n  name: erlmcp-headless\nspec:\n  clusterIP: None\n  selector: {app.kubernetes.io/name: erlmcp}\n  ports:\n    - {name: epmd, port: 4369, targetPort: epmd}\n"
	dir3 := release(t, map[string]string{"ingress.yaml": "", "extra.yaml": extra, "other.yaml": other, "service.yaml": headless},
		"{port, 8080}", "{port, 9999}")
	start := time.Now()
	res, err = e.run(e.opts(dir3, erlmcpRepo+":1.2.0", dashboardRepo+":2.0.0-fault-imagepull"))
	elapsed := time.Since(start)
	require.Error(t, err)
	assert.Equal(t, apply.StatusRolledBack, res.Status, e.log.String())
	assert.Equal(t, "Deployment/erlmcp-dashboard", res.Failed)
	assert.Contains(t, res.FailureReason, "not found")
	assert.Equal(t, 2, res.RollbackTo)
	assert.Less(t, elapsed, 90*time.Second, "fail-fast, not the 2m timeout")
	require.NotNil(t, res.Diagnostics)

	// The whole previous set is back; the Service the bad release left out was never pruned (prune waits for a
	// verified release): the same object, its ClusterIP kept.
	assert.Contains(t, e.configData("erlmcp-config", "sys.config"), "{port, 8081}", "the ConfigMap content of revision 2")
	after, err := cluster.Client.CoreV1().Services(e.ns).Get(e.ctx, "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, svc.UID, after.UID, "the Service erlmcp is the same object, never deleted")
	assert.Equal(t, svc.Spec.ClusterIP, after.Spec.ClusterIP, "its ClusterIP is kept")
	assert.NotContains(t, e.log.String(), "pruned Service/erlmcp")
	for _, o := range res.Objects {
		if o.Name == "Service/erlmcp" {
			assert.Equal(t, "not pruned", o.Action, "%+v", o)
		}
	}
	assert.False(t, e.exists(func() error {
		_, err := cluster.Client.CoreV1().ConfigMaps(e.ns).Get(e.ctx, "erlmcp-new", metav1.GetOptions{})
		return err
	}), "the object the bad release created is gone")
	assert.Equal(t, erlmcpRepo+":1.1.0", e.image("erlmcp", false))
	assert.Equal(t, dashboardRepo+":1.0.0", e.image("erlmcp-dashboard", false))
	for _, d := range []string{"erlmcp", "erlmcp-dashboard"} {
		assert.NoError(t, e.kubectlRolloutStatus(d), "kubectl agrees that %s is rolled out", d)
	}
	revs, err := e.store().List(e.ctx, "erlmcp")
	require.NoError(t, err)
	require.Len(t, revs, 4)
	assert.Equal(t, inventory.Deployed, revs[0].Status, "revision 4 records the restore")
	assert.Equal(t, 2, revs[0].RolledBackFrom)
	assert.Equal(t, inventory.Failed, revs[1].Status)
	assert.Equal(t, inventory.Superseded, revs[2].Status)

	// 4. Its healthy twin: the same release with good images verifies, and then the Service is pruned.
	res, err = e.run(e.opts(dir3, erlmcpRepo+":1.2.0", dashboardRepo+":2.0.0"))
	require.NoError(t, err, e.log.String())
	assert.Equal(t, apply.StatusSucceeded, res.Status)
	assert.False(t, e.exists(func() error {
		_, err := cluster.Client.CoreV1().Services(e.ns).Get(e.ctx, "erlmcp", metav1.GetOptions{})
		return err
	}), "pruned once the release verified")
	assert.Contains(t, e.log.String(), "pruned Service/erlmcp")
	log := e.log.String()
	assert.Less(t, strings.Index(log, "Verify revision 5"), strings.Index(log, "pruned Service/erlmcp"), "prune comes after the verdict")
}

// TestInvalidReleaseChangesNothing: a manifest the API server rejects, a
// YAML error, an unknown kind and a kind the identity may not create are
// each reported with their file (and line), and nothing changes.
func TestInvalidReleaseChangesNothing(t *testing.T) {
	e := newEnv(t)
	_, err := e.run(e.opts(release(t, nil), erlmcpRepo+":1.1.0"))
	require.NoError(t, err, e.log.String())
	before := e.configData("erlmcp-config", "sys.config")

	badField := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: erlmcp-bad\ndata:\n  a: b\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: erlmcp-bad\nspec:\n  selektor: {a: b}\n  ports:\n    - {port: 80}\n"
	for _, tc := range []struct {
		name, file, text string
		want             []string
	}{
		{"unknown field", "bad.yaml", badField, []string{"bad.yaml:8", "Service/erlmcp-bad", "selektor"}},
		{"yaml syntax", "bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: [unclosed\n", []string{"bad.yaml:"}},
		{"unknown kind", "bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n", []string{"bad.yaml:6", "Widget"}},
		{"forbidden kind", "sts.yaml", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: s\nspec:\n  serviceName: s\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers: [{name: c, image: ghcr.io/acme/erlmcp:1.0.0}]\n",
			[]string{"create statefulsets.apps"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := release(t, map[string]string{tc.file: tc.text}, "{port, 8080}", "{port, 7777}")
			res, err := e.run(e.opts(dir, erlmcpRepo+":1.3.0"))
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Contains(t, err.Error(), "nothing was changed")
			assert.Equal(t, apply.StatusFailed, res.Status)
			assert.Equal(t, before, e.configData("erlmcp-config", "sys.config"), "nothing changed")
			assert.Equal(t, erlmcpRepo+":1.1.0", e.image("erlmcp", false))
			revs, err := e.store().List(e.ctx, "erlmcp")
			require.NoError(t, err)
			assert.Len(t, revs, 1, "no revision recorded")
		})
	}
	// An image that matches no container is an error too.
	_, err = e.run(e.opts(release(t, nil), "ghcr.io/acme/unknown:1.0.0"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no container or init container in the manifests runs repository ghcr.io/acme/unknown")
}

// TestKustomizationRelease: a kustomization directory (built on the example
// release as a base) is rendered in-process and deployed; its own images:
// set the image without an image input.
func TestKustomizationRelease(t *testing.T) {
	e := newEnv(t)
	root, err := testcluster.RepoRoot()
	require.NoError(t, err)
	dir := t.TempDir()
	base, err := filepath.Rel(dir, filepath.Join(root, "examples", "kubernetes", "erlmcp"))
	require.NoError(t, err)
	kust := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: " + e.ns + "\nresources:\n  - " +
		base + "\nimages:\n  - name: ghcr.io/acme/erlmcp\n    newTag: 1.4.0\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kust), 0o644))
	res, err := e.run(e.opts(dir))
	require.NoError(t, err, e.log.String())
	assert.Equal(t, apply.StatusSucceeded, res.Status)
	assert.Equal(t, erlmcpRepo+":1.4.0", e.image("erlmcp", false))
	assert.Equal(t, erlmcpRepo+":1.4.0", e.image("erlmcp", true))
}

// TestHPAKeepsItsReplicas: the HPA (the real controller) scales erlmcp up to
// its minReplicas; a later deploy must neither reset nor fight that count.
func TestHPAKeepsItsReplicas(t *testing.T) {
	e := newEnv(t)
	dir := release(t, nil, "minReplicas: 3", "minReplicas: 4")
	_, err := e.run(e.opts(dir, erlmcpRepo+":1.1.0"))
	require.NoError(t, err, e.log.String())
	require.NoError(t, wait.PollUntilContextTimeout(e.ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		d, err := cluster.Client.AppsV1().Deployments(e.ns).Get(ctx, "erlmcp", metav1.GetOptions{})
		return err == nil && d.Spec.Replicas != nil && *d.Spec.Replicas == 4, nil
	}), "the HPA scales erlmcp to its minReplicas")
	res, err := e.run(e.opts(dir, erlmcpRepo+":1.2.0"))
	require.NoError(t, err, e.log.String())
	assert.Equal(t, apply.StatusSucceeded, res.Status)
	d, err := cluster.Client.AppsV1().Deployments(e.ns).Get(e.ctx, "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(4), *d.Spec.Replicas, "the HPA's count survives the deploy")
	assert.Equal(t, erlmcpRepo+":1.2.0", d.Spec.Template.Spec.Containers[0].Image)
	assert.Contains(t, e.log.String(), "replicas left to the HorizontalPodAutoscaler for Deployment/erlmcp")
}

// TestConflictWithAnotherManager: a field another manager set to another
// value stops the deploy with its name, unless force-conflicts.
func TestConflictWithAnotherManager(t *testing.T) {
	e := newEnv(t)
	dir := release(t, nil)
	_, err := e.run(e.opts(dir, erlmcpRepo+":1.1.0"))
	require.NoError(t, err, e.log.String())
	patch := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"erlmcp-config"},"data":{"sys.config":"hand-edited"}}`)
	force := true
	_, err = cluster.Client.CoreV1().ConfigMaps(e.ns).Patch(e.ctx, "erlmcp-config", types.ApplyPatchType, patch,
		metav1.PatchOptions{FieldManager: "argocd-controller", Force: &force})
	require.NoError(t, err)

	res, err := e.run(e.opts(dir, erlmcpRepo+":1.2.0"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "argocd-controller")
	assert.Contains(t, err.Error(), "force-conflicts")
	assert.Equal(t, apply.StatusFailed, res.Status)
	assert.Equal(t, "hand-edited", e.configData("erlmcp-config", "sys.config"))
	assert.Equal(t, erlmcpRepo+":1.1.0", e.image("erlmcp", false), "nothing changed")

	opts := e.opts(dir, erlmcpRepo+":1.2.0")
	opts.ForceConflicts = true
	res, err = e.run(opts)
	require.NoError(t, err, e.log.String())
	assert.Equal(t, apply.StatusSucceeded, res.Status)
	assert.Contains(t, e.configData("erlmcp-config", "sys.config"), "{port, 8080}")
}

// TestNoisyReleaseIsNotRolledBack: the twin of the bad release — a dashboard
// whose new pods crash once and then start must pass.
func TestNoisyReleaseIsNotRolledBack(t *testing.T) {
	e := newEnv(t)
	dir := release(t, nil)
	_, err := e.run(e.opts(dir, erlmcpRepo+":1.1.0"))
	require.NoError(t, err, e.log.String())
	res, err := e.run(e.opts(dir, erlmcpRepo+":1.2.0", dashboardRepo+":2.0.0-crashonce"))
	require.NoError(t, err, e.log.String())
	assert.Equal(t, apply.StatusSucceeded, res.Status)
	assert.False(t, res.RolledBack)
	assert.Equal(t, dashboardRepo+":2.0.0-crashonce", e.image("erlmcp-dashboard", false))
}

// TestDryRunPrintsTheDiff: dry-run lists what would be created, changed and
// pruned, and changes nothing.
func TestDryRunPrintsTheDiff(t *testing.T) {
	e := newEnv(t)
	_, err := e.run(e.opts(release(t, nil), erlmcpRepo+":1.1.0"))
	require.NoError(t, err, e.log.String())
	extra := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: erlmcp-extra\ndata:\n  feature: \"on\"\n"
	opts := e.opts(release(t, map[string]string{"ingress.yaml": "", "extra.yaml": extra}), erlmcpRepo+":1.2.0")
	opts.DryRun = true
	res, err := e.run(opts)
	require.NoError(t, err, e.log.String())
	byName := map[string]apply.Object{}
	for _, o := range res.Objects {
		byName[o.Name] = o
	}
	assert.Equal(t, "create", byName["ConfigMap/erlmcp-extra"].Action)
	assert.Equal(t, "prune", byName["Ingress/erlmcp"].Action)
	assert.Equal(t, "configure", byName["Deployment/erlmcp"].Action)
	var paths []string
	for _, c := range byName["Deployment/erlmcp"].Changes {
		paths = append(paths, c.Path)
	}
	assert.Contains(t, strings.Join(paths, " "), "image")
	assert.Equal(t, erlmcpRepo+":1.1.0", e.image("erlmcp", false), "nothing changed")
	revs, err := e.store().List(e.ctx, "erlmcp")
	require.NoError(t, err)
	assert.Len(t, revs, 1)
}

// adminEnv is an env whose engine runs as the cluster admin (for kinds the
// example Role does not grant: Namespaces, StatefulSets).
func adminEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	eng, err := apply.New(cluster.Config, cluster.Client, ui.NewText(e.log, false))
	require.NoError(t, err)
	e.eng = eng
	return e
}

// TestNewNamespaceIsUndoneWhenItsObjectsFail: a release that creates its
// namespace is validated once the namespace exists; when an object in it
// is rejected, the namespace it created is deleted again: nothing changed.
func TestNewNamespaceIsUndoneWhenItsObjectsFail(t *testing.T) {
	e := adminEnv(t)
	ns := e.ns + "-new"
	dir := t.TempDir()
	text := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + ns + "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n  namespace: " + ns +
		"\ndata: {a: b}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: bad\n  namespace: " + ns + "\nspec:\n  portz: []\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "release.yaml"), []byte(text), 0o644))
	res, err := e.run(e.opts(dir))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "portz")
	assert.Contains(t, err.Error(), "deleted what it had created (Namespace/"+ns+"); nothing of the release was changed")
	assert.Equal(t, apply.StatusFailed, res.Status)
	require.NoError(t, wait.PollUntilContextTimeout(e.ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := cluster.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}), "the namespace the release created is gone")

	// Fixed, the same release creates the namespace and its objects.
	text = strings.Replace(text, "  portz: []\n", "  ports: [{port: 80}]\n", 1)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "release.yaml"), []byte(text), 0o644))
	res, err = e.run(e.opts(dir))
	require.NoError(t, err, e.log.String())
	assert.Equal(t, apply.StatusSucceeded, res.Status)
	_, err = cluster.Client.CoreV1().ConfigMaps(ns).Get(e.ctx, "ok", metav1.GetOptions{})
	assert.NoError(t, err)
}

// statefulSet is a 3-replica StatefulSet running image.
func statefulSet(image string) string {
	return "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: store\nspec:\n  replicas: 3\n  serviceName: store\n" +
		"  selector: {matchLabels: {app: store}}\n  template:\n    metadata: {labels: {app: store}}\n    spec:\n" +
		"      containers: [{name: store, image: " + image + "}]\n"
}

// TestStatefulSetFailsFastAndItsTwinPasses: the doomed-pod rules judge a
// StatefulSet's new pods too (a crash loop fails in seconds, not at the
// timeout), and a pod that crashes once then starts does not.
func TestStatefulSetFailsFastAndItsTwinPasses(t *testing.T) {
	e := adminEnv(t)
	dir := t.TempDir()
	write := func(image string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "sts.yaml"), []byte(statefulSet(image)), 0o644))
	}
	write("ghcr.io/acme/store:1.0.0")
	_, err := e.run(e.opts(dir))
	require.NoError(t, err, e.log.String())

	write("ghcr.io/acme/store:1.1.0-crashonce")
	res, err := e.run(e.opts(dir))
	require.NoError(t, err, e.log.String())
	assert.Equal(t, apply.StatusSucceeded, res.Status)

	write("ghcr.io/acme/store:1.2.0-fault-crashloop")
	start := time.Now()
	res, err = e.run(e.opts(dir))
	require.Error(t, err)
	assert.Less(t, time.Since(start), 100*time.Second, "fail-fast, not the timeout")
	assert.Equal(t, apply.StatusRolledBack, res.Status, e.log.String())
	assert.Equal(t, "StatefulSet/store", res.Failed)
	assert.Contains(t, res.FailureReason, "CrashLoopBackOff")
	require.NotNil(t, res.Diagnostics)
	sts, err := cluster.Client.AppsV1().StatefulSets(e.ns).Get(e.ctx, "store", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "ghcr.io/acme/store:1.1.0-crashonce", sts.Spec.Template.Spec.Containers[0].Image)
}

// TestRedeployOfTheSameReleaseChangesNothing: a change-cause that names
// another run is not a change: every object stays unchanged and no
// Deployment gets a new generation.
func TestRedeployOfTheSameReleaseChangesNothing(t *testing.T) {
	e := newEnv(t)
	dir := release(t, nil)
	_, err := e.run(e.opts(dir, erlmcpRepo+":1.1.0"))
	require.NoError(t, err, e.log.String())
	before, err := cluster.Client.AppsV1().Deployments(e.ns).Get(e.ctx, "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	opts := e.opts(dir, erlmcpRepo+":1.1.0")
	opts.ChangeCause = "deploy by another run"
	res, err := e.run(opts)
	require.NoError(t, err, e.log.String())
	for _, o := range res.Objects {
		assert.Equal(t, "unchanged", o.Action, "%s", o.Name)
		assert.Equal(t, "ready", o.State, "%s: what serves is verified", o.Name)
	}
	after, err := cluster.Client.AppsV1().Deployments(e.ns).Get(e.ctx, "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, before.Generation, after.Generation)
	assert.Equal(t, before.Annotations["kubernetes.io/change-cause"], after.Annotations["kubernetes.io/change-cause"], "the change-cause of the run that changed it stays")

	// Unchanged is reported as such, and no revision is recorded for it.
	assert.Equal(t, apply.StatusSucceeded, res.Status)
	assert.True(t, res.Unchanged)
	assert.Equal(t, 1, res.Revision, "the revision that serves")
	assert.Equal(t, 1, res.PreviousRevision)
	revs, err := e.store().List(e.ctx, "erlmcp")
	require.NoError(t, err)
	require.Equal(t, 1, len(revs), "no new revision for an unchanged release")
	assert.Equal(t, inventory.Deployed, revs[0].Status)
	assert.Equal(t, "test "+t.Name(), revs[0].Cause, "the revision keeps the cause of the run that made it")
}

// freshNamespace is a namespace name no test has used, which does not exist.
func freshNamespace(t *testing.T, suffix string) string {
	t.Helper()
	nsSeq.Lock()
	nsSeq.n++
	n := nsSeq.n
	nsSeq.Unlock()
	return fmt.Sprintf("rel-empty-%d-%s", n, suffix)
}

// namespaceRelease is the example release plus its own Namespace ns.
func namespaceRelease(t *testing.T, ns string, files map[string]string) string {
	t.Helper()
	if files == nil {
		files = map[string]string{}
	}
	files["namespace.yaml"] = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + ns + "\n  labels: {app.kubernetes.io/part-of: erlmcp}\n"
	return release(t, files)
}

// emptyEnv is an env for namespace ns, which does not exist, whose engine
// runs as id (nil: the cluster admin).
func emptyEnv(t *testing.T, ns string, id *testcluster.Identity) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	cfg, cs := cluster.Config, kubernetes.Interface(cluster.Client)
	if id != nil {
		cfg, cs = id.Config, id.Client
	}
	log := &ui.Buffer{}
	eng, err := apply.New(cfg, cs, ui.NewText(log, false))
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("APPLY_LOG") != "" {
			t.Logf("engine log:\n%s", log.String())
		}
	})
	return &env{t: t, ctx: ctx, ns: ns, id: id, log: log, eng: eng}
}

// namespaceGone waits until namespace ns no longer exists.
func namespaceGone(t *testing.T, ctx context.Context, ns string) bool {
	t.Helper()
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := cluster.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}) == nil
}

// TestReleaseWithItsNamespaceIntoAnEmptyCluster: a release that holds its
// own Namespace (erlmcp's k8s/ starts with namespace.yaml) deploys into a
// cluster where that namespace does not exist — as the admin, and as the
// identity of examples/kubernetes/rbac-namespace.yaml (whose grants are
// cluster-wide: the permission checks of verbs inside a namespace that
// does not exist yet are answered by the API server). An identity that may
// not create it gets an error naming the namespace and the verb, and
// nothing changes; so does a release whose namespace is missing and not
// in it; a refused dry run deletes the namespace the deploy created.
func TestReleaseWithItsNamespaceIntoAnEmptyCluster(t *testing.T) {
	t.Run("admin", func(t *testing.T) {
		ns := freshNamespace(t, "admin")
		e := emptyEnv(t, ns, nil)
		res, err := e.run(e.opts(namespaceRelease(t, ns, nil), erlmcpRepo+":1.1.0"))
		require.NoError(t, err, e.log.String())
		assert.Equal(t, apply.StatusSucceeded, res.Status)
		assert.Equal(t, 1, res.Revision)
		assert.Contains(t, e.log.String(), "created namespace "+ns)
		n, err := cluster.Client.CoreV1().Namespaces().Get(e.ctx, ns, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, "erlmcp", n.Labels["erlmcp-deploy.io/name"], "the release's owner labels, as ssa sets them")
		assert.Equal(t, "erlmcp", n.Labels["app.kubernetes.io/part-of"])
		for _, f := range n.ManagedFields {
			if f.Manager == "erlmcp-deploy" {
				assert.Equal(t, metav1.ManagedFieldsOperationApply, f.Operation, "our fields are the apply's, as if server-side applied")
			}
		}
		rel, err := e.store().LastDeployed(e.ctx, "erlmcp")
		require.NoError(t, err)
		require.NotNil(t, rel, "the history lives in the new namespace")
		leases, err := cluster.Client.CoordinationV1().Leases(ns).List(e.ctx, metav1.ListOptions{})
		require.NoError(t, err)
		assert.Empty(t, leases.Items, "the lock, taken in the new namespace, is released")

		// A re-deploy of the same release: the namespace exists now, nothing changes.
		res, err = e.run(e.opts(namespaceRelease(t, ns, nil), erlmcpRepo+":1.1.0"))
		require.NoError(t, err, e.log.String())
		assert.True(t, res.Unchanged)
	})

	t.Run("a deployer allowed to create the namespace", func(t *testing.T) {
		ns := freshNamespace(t, "allowed")
		id, err := cluster.NamespaceDeployer(context.Background(), ns+"-ci", ns)
		require.NoError(t, err)
		e := emptyEnv(t, ns, id)
		res, err := e.run(e.opts(namespaceRelease(t, ns, nil), erlmcpRepo+":1.1.0"))
		require.NoError(t, err, e.log.String())
		assert.Equal(t, apply.StatusSucceeded, res.Status)
		assert.Equal(t, erlmcpRepo+":1.1.0", e.image("erlmcp", false))
		assert.Contains(t, e.log.String(), "permissions: ok")
	})

	t.Run("a deployer that may not create it", func(t *testing.T) {
		ns := freshNamespace(t, "refused")
		id, err := cluster.Deployer(context.Background(), ns+"-ci") // rbac.yaml's Role, in its own namespace
		require.NoError(t, err)
		e := emptyEnv(t, ns, id)
		res, err := e.run(e.opts(namespaceRelease(t, ns, nil), erlmcpRepo+":1.1.0"))
		require.Error(t, err)
		assert.Equal(t, apply.StatusFailed, res.Status)
		assert.Contains(t, err.Error(), "namespace "+ns)
		assert.Contains(t, err.Error(), "create namespaces, cluster-wide")
		assert.Contains(t, err.Error(), "nothing was changed")
		_, err = cluster.Client.CoreV1().Namespaces().Get(e.ctx, ns, metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "no namespace: %v", err)
	})

	t.Run("missing and not in the release", func(t *testing.T) {
		ns := freshNamespace(t, "absent")
		e := emptyEnv(t, ns, nil)
		_, err := e.run(e.opts(release(t, nil), erlmcpRepo+":1.1.0"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "namespace "+ns+" does not exist, and release erlmcp does not hold it")
		_, err = cluster.Client.CoreV1().Namespaces().Get(e.ctx, ns, metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err))
	})

	t.Run("a refused dry run deletes the namespace again", func(t *testing.T) {
		ns := freshNamespace(t, "undone")
		e := emptyEnv(t, ns, nil)
		bad := "apiVersion: v1\nkind: Service\nmetadata:\n  name: bad\nspec:\n  portz: []\n"
		res, err := e.run(e.opts(namespaceRelease(t, ns, map[string]string{"bad.yaml": bad}), erlmcpRepo+":1.1.0"))
		require.Error(t, err)
		assert.Equal(t, apply.StatusFailed, res.Status)
		assert.Contains(t, err.Error(), "portz")
		assert.Contains(t, err.Error(), "deleted namespace "+ns+" again, which this deploy had created")
		assert.Contains(t, err.Error(), "(nothing was changed)")
		assert.True(t, namespaceGone(t, e.ctx, ns), "the namespace the deploy created is gone")
	})
}

// TestApplyFailingMidStageLeavesNothing: objects of one ssa stage are
// applied one after another, so an object the API server refuses at apply
// time — a ResourceQuota's count reached by the objects created before it in
// the same stage, which the dry run of each alone passes — stops the stage
// half-way. Every object the failed apply created is deleted again (a
// Namespace and a ClusterRole of the first stage included), the object it
// configured is restored with the previous revision, and the error says
// so. Its healthy twin, with room in the quota, deploys the same release.
func TestApplyFailingMidStageLeavesNothing(t *testing.T) {
	e := adminEnv(t)
	dir := t.TempDir()
	cm := func(name, v string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\ndata: {v: \"" + v + "\"}\n"
	}
	extraNS, reader := e.ns+"-extra", e.ns+"-reader"
	t.Cleanup(func() {
		_ = cluster.Client.RbacV1().ClusterRoles().Delete(context.Background(), reader, metav1.DeleteOptions{})
		_ = cluster.Client.CoreV1().Namespaces().Delete(context.Background(), extraNS, metav1.DeleteOptions{})
	})
	write := func(docs ...string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "release.yaml"), []byte(strings.Join(docs, "---\n")), 0o644))
	}
	write(cm("cfg", "1"))
	_, err := e.run(e.opts(dir))
	require.NoError(t, err, e.log.String())

	// Room for two more ConfigMaps; the release adds three.
	used := func() int64 {
		var n int64
		require.NoError(t, wait.PollUntilContextTimeout(e.ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			q, err := cluster.Client.CoreV1().ResourceQuotas(e.ns).Get(ctx, "configmaps", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			u, ok := q.Status.Used["count/configmaps"]
			n = u.Value()
			return ok, nil
		}), "the resourcequota controller fills the quota's status")
		return n
	}
	cms, err := cluster.Client.CoreV1().ConfigMaps(e.ns).List(e.ctx, metav1.ListOptions{})
	require.NoError(t, err)
	quota := func(hard int) *corev1.ResourceQuota {
		return &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "configmaps"},
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"count/configmaps": resource.MustParse(strconv.Itoa(hard))}}}
	}
	_, err = cluster.Client.CoreV1().ResourceQuotas(e.ns).Create(e.ctx, quota(len(cms.Items)+2), metav1.CreateOptions{})
	require.NoError(t, err)
	require.Equal(t, int64(len(cms.Items)), used())

	write("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+extraNS+"\n",
		"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: "+reader+"\nrules: [{apiGroups: [\"\"], resources: [configmaps], verbs: [get]}]\n",
		cm("cfg", "2"), cm("x1", "1"), cm("x2", "1"), cm("x3", "1"))
	res, err := e.run(e.opts(dir))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exceeded quota")
	assert.Contains(t, err.Error(), "deleted what it had created (ConfigMap/x1, ConfigMap/x2, ClusterRole/"+reader+", Namespace/"+extraNS+")")
	assert.Contains(t, err.Error(), "restored revision 1 as a whole (recorded as revision 3), as it had configured ConfigMap/cfg")
	assert.Equal(t, apply.StatusRolledBack, res.Status, e.log.String())
	for _, name := range []string{"x1", "x2", "x3"} {
		assert.False(t, e.exists(func() error {
			_, err := cluster.Client.CoreV1().ConfigMaps(e.ns).Get(e.ctx, name, metav1.GetOptions{})
			return err
		}), "ConfigMap %s is gone", name)
	}
	assert.Equal(t, "1", e.configData("cfg", "v"), "the configured object has revision 1's content again")
	_, err = cluster.Client.RbacV1().ClusterRoles().Get(e.ctx, reader, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the cluster-scoped object it created is gone: %v", err)
	assert.True(t, namespaceGone(t, e.ctx, extraNS), "the namespace it created is gone")
	revs, err := e.store().List(e.ctx, "erlmcp")
	require.NoError(t, err)
	require.Len(t, revs, 3)
	assert.Equal(t, inventory.Failed, revs[1].Status)
	assert.Equal(t, inventory.Deployed, revs[0].Status)

	// The healthy twin: with room for them, the same release deploys.
	q, err := cluster.Client.CoreV1().ResourceQuotas(e.ns).Get(e.ctx, "configmaps", metav1.GetOptions{})
	require.NoError(t, err)
	q.Spec = quota(len(cms.Items) + 10).Spec
	_, err = cluster.Client.CoreV1().ResourceQuotas(e.ns).Update(e.ctx, q, metav1.UpdateOptions{})
	require.NoError(t, err)
	res, err = e.run(e.opts(dir))
	require.NoError(t, err, e.log.String())
	assert.Equal(t, apply.StatusSucceeded, res.Status)
	assert.Equal(t, "1", e.configData("x3", "v"))
	assert.Equal(t, "2", e.configData("cfg", "v"))
	_, err = cluster.Client.RbacV1().ClusterRoles().Get(e.ctx, reader, metav1.GetOptions{})
	assert.NoError(t, err)
}
