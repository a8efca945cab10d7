package apply

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/ssa"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	k8stesting "k8s.io/client-go/testing"
	ctrlfake "sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/org/erlmcp-deploy/internal/history"
	"github.com/org/erlmcp-deploy/internal/inventory"
	"github.com/org/erlmcp-deploy/internal/manifest"
	"github.com/org/erlmcp-deploy/internal/ui"
)

// testMapper serves the kinds these tests use.
func testMapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Service"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}, meta.RESTScopeRoot)
	return m
}

func object(apiVersion, kind, ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

// ours is u as our field manager applied it at t.
func ours(u *unstructured.Unstructured, t time.Time) *unstructured.Unstructured {
	u = u.DeepCopy()
	mt := metav1.NewTime(t)
	u.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: owner.Field, Operation: metav1.ManagedFieldsOperationApply, Time: &mt}})
	return u
}

func withData(u *unstructured.Unstructured, k, v string) *unstructured.Unstructured {
	u = u.DeepCopy()
	_ = unstructured.SetNestedField(u.Object, v, "data", k)
	return u
}

// TestPureClassify: what a failed apply did to each planned object, read
// back: a planned create that now exists is ours only with our field
// manager's apply; a planned configure was done when the live object moved.
func TestPureClassify(t *testing.T) {
	now := time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)
	cm := object("v1", "ConfigMap", "ns", "cfg")
	before, after := withData(cm, "a", "1"), withData(cm, "a", "2")
	configure := planned{action: ActionConfigure, dry: after, changes: manifest.Diff(before, after)}
	for _, tc := range []struct {
		name string
		en   planned
		live *unstructured.Unstructured
		want string
	}{
		{"planned create, still absent", planned{action: ActionCreate}, nil, didNothing},
		{"planned create, ours now", planned{action: ActionCreate}, ours(cm, now), didCreate},
		{"planned create, another writer's now", planned{action: ActionCreate}, cm, didForeign},
		{"planned configure, untouched", configure, ours(before, now), didNothing},
		{"planned configure, applied", configure, ours(after, now), didConfigure},
		{"planned configure, gone meanwhile", configure, nil, didNothing},
		{"unchanged", planned{action: ActionUnchanged}, ours(cm, now), didNothing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, classify(tc.en, tc.live))
		})
	}
}

// TestPureUnchanged: a deploy changes nothing only when every object
// matches, nothing is pruned, and the newest revision is the verified one
// holding the same manifests.
func TestPureUnchanged(t *testing.T) {
	m := []byte("kind: ConfigMap\n")
	deployed := &inventory.Release{Revision: 2, Status: inventory.Deployed, Manifests: m}
	failed := &inventory.Release{Revision: 3, Status: inventory.Failed, Manifests: m}
	same := &plan{entries: []planned{{action: ActionUnchanged}}}
	for _, tc := range []struct {
		name    string
		p       *plan
		pf      *preflight
		encoded []byte
		want    bool
	}{
		{"identical release serving", same, &preflight{previous: deployed, latest: deployed}, m, true},
		{"an object changes", &plan{entries: []planned{{action: ActionConfigure}}}, &preflight{previous: deployed, latest: deployed}, m, false},
		{"an object is pruned", &plan{entries: same.entries, prune: []inventory.Ref{{Kind: "Service", Name: "x"}}}, &preflight{previous: deployed, latest: deployed}, m, false},
		{"first deploy", same, &preflight{}, m, false},
		{"the newest revision failed", same, &preflight{previous: deployed, latest: failed}, m, false},
		{"other manifests recorded (e.g. an older revision's change-cause in them)", same, &preflight{previous: deployed, latest: deployed}, []byte("kind: Other\n"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, unchanged(tc.p, tc.pf, tc.encoded))
		})
	}
}

// TestPureRecordedManifestsHoldNoChangeCause: two runs of one release
// record the same manifests; the change-cause, which names the run, is on
// the Deployments applied, not in the release's identity.
func TestPureRecordedManifestsHoldNoChangeCause(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "app.yaml"), []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n"+
		"  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: ghcr.io/acme/web:1.0.0}]\n"), 0o644))
	e := &Engine{Mapper: testMapper(), Log: ui.Discard{}}
	var encoded [][]byte
	for _, cause := range []string{"run 1 by octocat", "run 2 by hubot"} {
		s, err := e.load(Options{Namespace: "ns", Release: "web", Manifests: []string{dir}, ChangeCause: cause})
		require.NoError(t, err)
		assert.Equal(t, cause, s.objects[0].GetAnnotations()[history.ChangeCauseAnnotation], "the Deployment applied carries the run's change-cause")
		assert.NotContains(t, string(s.encoded), history.ChangeCauseAnnotation)
		encoded = append(encoded, s.encoded)
	}
	assert.Equal(t, string(encoded[0]), string(encoded[1]))
}

// TestPureAccesses: a Namespace is checked by name for the verbs RBAC can
// name; creating the release's namespace needs its delete (to undo it);
// objects in other namespaces need delete there too.
func TestPureAccesses(t *testing.T) {
	mapper := testMapper()
	mk := func(objs ...*unstructured.Unstructured) *set {
		s := &set{namespaces: map[string]bool{}}
		for _, o := range objs {
			gvk := o.GroupVersionKind()
			m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			require.NoError(t, err)
			s.objects = append(s.objects, manifest.Object{Unstructured: o})
			s.mappings = append(s.mappings, m)
		}
		return s
	}
	s := mk(object("v1", "Namespace", "", "erlmcp"), object("v1", "ConfigMap", "erlmcp", "cfg"), object("v1", "ConfigMap", "other", "cfg"))
	opts := Options{Namespace: "erlmcp", Release: "erlmcp", Prune: true}
	list := func(createNS bool) []string {
		var out []string
		for _, a := range accesses(opts, s, createNS) {
			out = append(out, a.String())
		}
		return out
	}
	got := list(true)
	for _, want := range []string{"create namespaces (cluster-wide)", "get namespaces erlmcp (cluster-wide)", "patch namespaces erlmcp (cluster-wide)",
		"delete namespaces erlmcp (cluster-wide)", "create configmaps", "delete configmaps"} {
		assert.Contains(t, got, want)
	}
	assert.NotContains(t, got, "get namespaces (cluster-wide)", "a Role naming the namespace grants it")
	var otherDelete bool
	for _, a := range accesses(opts, s, false) {
		otherDelete = otherDelete || a.namespace == "other" && a.resource == "configmaps" && a.verb == "delete"
	}
	assert.True(t, otherDelete, "objects in another namespace can be deleted there (prune, undo)")
	opts.Prune = false
	assert.NotContains(t, list(false), "delete namespaces erlmcp (cluster-wide)", "no prune, no rollback, no namespace to create: no delete")
}

// TestPureNamespaceDenied: the error names the namespace and the verb,
// and the other missing verbs.
func TestPureNamespaceDenied(t *testing.T) {
	err := namespaceDenied("erlmcp", nsMissing, []string{"create configmaps", "create namespaces (cluster-wide)"})
	assert.Contains(t, err.Error(), "namespace erlmcp does not exist, and the deploy identity may not create it (create namespaces, cluster-wide, is not allowed)")
	assert.Contains(t, err.Error(), "also missing: create configmaps")
	assert.NotContains(t, err.Error(), "also missing: create namespaces")
	assert.Contains(t, err.Error(), "(nothing was changed)")
	err = namespaceDenied("erlmcp", nsUnknown, []string{"create namespaces (cluster-wide)"})
	assert.Contains(t, err.Error(), "may neither read nor create namespace erlmcp")
	assert.NotContains(t, err.Error(), "also missing")
}

// TestPureRetryRecord: recording a verified revision is retried, and its
// last error comes back when every attempt failed.
func TestPureRetryRecord(t *testing.T) {
	backoff := wait.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 4}
	for _, tc := range []struct {
		name     string
		failures int
		wantErr  string
	}{
		{"first attempt", 0, ""},
		{"after two failures", 2, ""},
		{"never", 10, "etcd timeout (4 attempts)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := retryRecord(context.Background(), backoff, func(context.Context) error {
				calls++
				if calls <= tc.failures {
					return errors.New("etcd timeout")
				}
				return nil
			})
			if tc.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, tc.failures+1, calls)
				return
			}
			require.EqualError(t, err, tc.wantErr)
		})
	}
}

// TestPureRecordDeployedRetries: a SetStatus that fails twice (the API
// server answering 500) still records the revision as deployed.
func TestPureRecordDeployedRetries(t *testing.T) {
	ctx := context.Background()
	cs := k8sfake.NewClientset()
	st := inventory.Store{Client: cs, Namespace: "ns"}
	rel := &inventory.Release{Name: "web", Objects: []inventory.Ref{{APIVersion: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "cfg"}}}
	require.NoError(t, st.Create(ctx, rel))
	failures := 2
	cs.PrependReactor("update", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		if failures > 0 {
			failures--
			return true, nil, apierrors.NewInternalError(errors.New("etcd timeout"))
		}
		return false, nil, nil
	})
	e := &Engine{Client: cs, Log: ui.Discard{}, Backoff: wait.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 5}}
	require.NoError(t, e.recordDeployed(ctx, "ns", "web", rel.Revision))
	got, err := st.Get(ctx, "web", rel.Revision)
	require.NoError(t, err)
	assert.Equal(t, inventory.Deployed, got.Status)

	failures = 100
	err = e.recordDeployed(ctx, "ns", "web", rel.Revision)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "(5 attempts)")
}

// TestPurePruneCandidates: a prune candidate that cannot be read stops the
// plan (nothing was changed) instead of being skipped silently; one of a
// kind the cluster no longer serves is skipped and said; one without the
// release's label is not a candidate.
func TestPurePruneCandidates(t *testing.T) {
	labelled := func(u *unstructured.Unstructured) *unstructured.Unstructured {
		u = u.DeepCopy()
		u.SetLabels(map[string]string{LabelGroup + "/name": "web", LabelGroup + "/namespace": "ns"})
		return u
	}
	mine := labelled(object("v1", "ConfigMap", "ns", "old"))
	theirs := object("v1", "ConfigMap", "ns", "given-away")
	latest := &inventory.Release{Revision: 1, Status: inventory.Deployed, Objects: []inventory.Ref{
		inventory.RefOf(mine), inventory.RefOf(theirs), {APIVersion: "example.com/v1", Kind: "Widget", Namespace: "ns", Name: "w"}}}
	for _, tc := range []struct {
		name    string
		getErr  error
		want    []string
		wantErr string
		warns   []string
	}{
		{"readable", nil, []string{"ConfigMap/ns/old"}, "", []string{"Widget/w left the release but is not pruned: the cluster no longer serves its kind",
			"ConfigMap/given-away left the release but is not pruned: it does not carry the release's label"}},
		{"a read fails", apierrors.NewInternalError(errors.New("etcd timeout")), nil, "read ConfigMap/old, which left the release, to prune it", nil},
		{"a read is forbidden", apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "old", errors.New("RBAC")), nil, "(nothing was changed)", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dyn := dynamicfake.NewSimpleDynamicClient(runtime.NewScheme(), mine, theirs)
			if tc.getErr != nil {
				dyn.PrependReactor("get", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, tc.getErr })
			}
			log := &ui.Buffer{}
			e := &Engine{Dynamic: dyn, Mapper: testMapper(), Log: ui.NewText(log, false)}
			got, err := e.pruneCandidates(context.Background(), Options{Namespace: "ns", Release: "web", Prune: true}, &set{}, &preflight{latest: latest, previous: latest})
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			var names []string
			for _, r := range got {
				names = append(names, r.String())
			}
			assert.Equal(t, tc.want, names)
			for _, w := range tc.warns {
				assert.Contains(t, log.String(), w)
			}
		})
	}
}

// TestPurePruneSaysWhatHappened: an object ssa skips (its label was taken
// away meanwhile) is "not pruned", never "pruned"; one that is deleted is
// "pruned".
func TestPurePruneSaysWhatHappened(t *testing.T) {
	labels := map[string]string{LabelGroup + "/name": "web", LabelGroup + "/namespace": "ns"}
	gone := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "gone", Namespace: "ns", Labels: labels}}
	kept := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kept", Namespace: "ns", Labels: map[string]string{"team": "other"}}}
	objs := ctrlfake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(gone, kept).Build()
	e := &Engine{Objects: objs, Mapper: testMapper(), Log: ui.Discard{}}
	p := &plan{prune: []inventory.Ref{{APIVersion: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "gone"}, {APIVersion: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "kept"}}}
	a := newApplied()
	e.prune(context.Background(), Options{Namespace: "ns", Release: "web"}, p, a, 2)
	assert.Equal(t, actionPruned, a.actions["ConfigMap/gone"])
	assert.Equal(t, actionNotPruned, a.actions["ConfigMap/kept"])
	assert.Equal(t, "no longer carries the release's label", a.states["ConfigMap/kept"])
	objsOut := a.objects(p, "ns")
	require.Len(t, objsOut, 2)
	assert.Equal(t, "pruned", objsOut[0].Action)
	assert.Equal(t, "not pruned", objsOut[1].Action)
}

// TestPurePruneCandidatesOfADoomedReleaseAreKept: the objects output of a
// release that did not verify says its prune candidates were kept.
func TestPurePruneCandidatesOfADoomedReleaseAreKept(t *testing.T) {
	p := &plan{prune: []inventory.Ref{{APIVersion: "v1", Kind: "Service", Namespace: "ns", Name: "old"}}}
	got := newApplied().objects(p, "ns")
	require.Len(t, got, 1)
	assert.Equal(t, "not pruned", got[0].Action)
	assert.True(t, strings.HasPrefix(got[0].State, "kept"), got[0].State)
	_ = ssa.DeletedAction
}

// TestPureConfine: a confined release (a preview) has every namespaced
// object in its namespace, whatever the manifest says, leaves the
// manifests' own Namespace out, and refuses every other cluster-scoped
// object by file and line; unconfined, all pass as written.
func TestPureConfine(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "all.yaml")
	require.NoError(t, os.WriteFile(file, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: conf, namespace: production}\n---\n"+
		"apiVersion: v1\nkind: Service\nmetadata: {name: web}\n---\n"+
		"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\n---\n"+
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: erlmcp}\n"), 0o644))
	e := &Engine{Mapper: testMapper(), Log: ui.Discard{}}
	for _, tc := range []struct {
		name    string
		confine bool
		want    map[string]string // object → namespace
		refused []string          // "line: kind name"
	}{
		{name: "unconfined", want: map[string]string{"conf": "production", "web": "pr-12", "reader": "", "erlmcp": ""}},
		{name: "confined", confine: true, refused: []string{`9: ClusterRole "reader"`}}, // the Namespace is left out, not refused
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := e.load(Options{Namespace: "pr-12", Release: "web", Manifests: []string{file}, Confine: tc.confine})
			if tc.refused == nil {
				require.NoError(t, err)
				got := map[string]string{}
				for _, o := range s.objects {
					got[o.GetName()] = o.GetNamespace()
				}
				assert.Equal(t, tc.want, got)
				return
			}
			var ie *InputError
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, "manifests", ie.Input)
			var got []string
			for _, p := range ie.Problems {
				assert.Equal(t, file, p.File)
				assert.Contains(t, p.Msg, "cluster-scoped")
				got = append(got, fmt.Sprintf("%d: %s", p.Line, strings.SplitN(p.Msg, " is ", 2)[0]))
			}
			assert.Equal(t, tc.refused, got)
		})
	}
	namespaced := filepath.Join(t.TempDir(), "app.yaml")
	require.NoError(t, os.WriteFile(namespaced, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: erlmcp}\n---\n"+
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: conf, namespace: erlmcp}\n---\n"+
		"apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"), 0o644))
	s, err := e.load(Options{Namespace: "pr-12", Release: "web", Manifests: []string{namespaced}, Confine: true})
	require.NoError(t, err)
	var names []string
	for _, o := range s.objects {
		names = append(names, o.GetKind()+"/"+o.GetName())
		assert.Equal(t, "pr-12", o.GetNamespace(), "%s placed in the preview's namespace", o.GetName())
	}
	assert.Equal(t, []string{"ConfigMap/conf", "Service/web"}, names, "the manifests' Namespace is left out")
	assert.Empty(t, s.namespaces)
}
