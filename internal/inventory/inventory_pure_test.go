package inventory_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/org/erlmcp-deploy/internal/inventory"
)

func obj(apiVersion, kind, ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

func TestPureRef(t *testing.T) {
	for _, tc := range []struct {
		u        *unstructured.Unstructured
		ref      inventory.Ref
		str, key string
	}{
		{obj("apps/v1", "Deployment", "erlmcp", "erlmcp"),
			inventory.Ref{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "erlmcp", Name: "erlmcp"},
			"Deployment/erlmcp/erlmcp", "apps/Deployment/erlmcp/erlmcp"},
		{obj("v1", "Service", "prod", "web"),
			inventory.Ref{APIVersion: "v1", Kind: "Service", Namespace: "prod", Name: "web"},
			"Service/prod/web", "/Service/prod/web"},
		{obj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "reader"),
			inventory.Ref{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole", Name: "reader"},
			"ClusterRole/reader", "rbac.authorization.k8s.io/ClusterRole//reader"},
		{obj("v1", "Namespace", "", "erlmcp"),
			inventory.Ref{APIVersion: "v1", Kind: "Namespace", Name: "erlmcp"},
			"Namespace/erlmcp", "/Namespace//erlmcp"},
		{nil, inventory.Ref{}, "/", "///"},
	} {
		t.Run(tc.str, func(t *testing.T) {
			ref := inventory.RefOf(tc.u)
			assert.Equal(t, tc.ref, ref)
			assert.Equal(t, tc.str, ref.String())
			assert.Equal(t, tc.key, ref.Key())
		})
	}
	// The version is not part of the identity, the group is.
	a := inventory.Ref{APIVersion: "autoscaling/v1", Kind: "HorizontalPodAutoscaler", Namespace: "n", Name: "x"}
	b := a
	b.APIVersion = "autoscaling/v2"
	assert.Equal(t, a.Key(), b.Key())
	c := a
	c.APIVersion = "other.example.com/v1"
	assert.NotEqual(t, a.Key(), c.Key())
}

func TestPureDiff(t *testing.T) {
	dep := inventory.Ref{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "n", Name: "erlmcp"}
	svc := inventory.Ref{APIVersion: "v1", Kind: "Service", Namespace: "n", Name: "erlmcp"}
	cm := inventory.Ref{APIVersion: "v1", Kind: "ConfigMap", Namespace: "n", Name: "erlmcp"}
	hpa1 := inventory.Ref{APIVersion: "autoscaling/v1", Kind: "HorizontalPodAutoscaler", Namespace: "n", Name: "erlmcp"}
	hpa2 := hpa1
	hpa2.APIVersion = "autoscaling/v2"
	cr := inventory.Ref{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole", Name: "erlmcp"}
	otherNS := svc
	otherNS.Namespace = "m"
	for _, tc := range []struct {
		name                  string
		old, new              []inventory.Ref
		created, pruned, kept []inventory.Ref
	}{
		{name: "both empty"},
		{name: "first release", new: []inventory.Ref{dep, svc}, created: []inventory.Ref{dep, svc}},
		{name: "all removed", old: []inventory.Ref{dep, svc}, pruned: []inventory.Ref{dep, svc}},
		{name: "same", old: []inventory.Ref{dep, svc}, new: []inventory.Ref{svc, dep}, kept: []inventory.Ref{svc, dep}},
		{name: "mixed, order of the inputs",
			old: []inventory.Ref{cm, dep, cr, svc}, new: []inventory.Ref{svc, otherNS, dep},
			created: []inventory.Ref{otherNS}, pruned: []inventory.Ref{cm, cr}, kept: []inventory.Ref{svc, dep}},
		{name: "new version is kept, as new's ref",
			old: []inventory.Ref{hpa1}, new: []inventory.Ref{hpa2}, kept: []inventory.Ref{hpa2}},
		{name: "duplicates count once",
			old: []inventory.Ref{cm, cm, dep}, new: []inventory.Ref{svc, svc, dep, dep},
			created: []inventory.Ref{svc}, pruned: []inventory.Ref{cm}, kept: []inventory.Ref{dep}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			created, pruned, kept := inventory.Diff(tc.old, tc.new)
			assert.Equal(t, tc.created, created, "created")
			assert.Equal(t, tc.pruned, pruned, "pruned")
			assert.Equal(t, tc.kept, kept, "kept")
		})
	}
}

func TestPureSecretName(t *testing.T) {
	assert.Equal(t, "erlmcp-deploy.release.erlmcp.v1", inventory.SecretName("erlmcp", 1))
	assert.Equal(t, "erlmcp-deploy.release.erlmcp.staging.v42", inventory.SecretName("erlmcp.staging", 42))
	// The longest name still makes a valid Secret name.
	long := strings.Repeat("a", inventory.MaxNameLength)
	require.NoError(t, inventory.ValidateName(long))
	assert.LessOrEqual(t, len(inventory.SecretName(long, 1<<31-1)), 253)
}

// offline is a Store whose client points at nothing: a test passes only if
// Create fails before it reaches the cluster.
func offline(t *testing.T) inventory.Store {
	t.Helper()
	c, err := kubernetes.NewForConfig(&rest.Config{Host: "http://127.0.0.1:1"})
	require.NoError(t, err)
	return inventory.Store{Client: c, Namespace: "erlmcp"}
}

func TestPureNameValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"erlmcp", true},
		{"erlmcp-staging", true},
		{"erlmcp.staging", true},
		{"a", true},
		{"0erlmcp9", true},
		{strings.Repeat("a", 53), true},
		{strings.Repeat("a", 54), false},
		{"", false},
		{"Erlmcp", false},
		{"erlmcp_staging", false},
		{"-erlmcp", false},
		{"erlmcp-", false},
		{"erlmcp..staging", false},
		{"erlmcp/staging", false},
		{"erl mcp", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := inventory.ValidateName(tc.name)
			if tc.ok {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), "DNS-1123 subdomain of at most 53 characters")
			rel := &inventory.Release{Name: tc.name}
			err = offline(t).Create(context.Background(), rel)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "inventory: release name")
			assert.Zero(t, rel.Revision, "rel is untouched")
		})
	}
}

func TestPureUnknownStatus(t *testing.T) {
	err := offline(t).Create(context.Background(), &inventory.Release{Name: "erlmcp", Status: "ok"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown status "ok"`)
	err = offline(t).SetStatus(context.Background(), "erlmcp", 1, "done", "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown status "done"`)
}

func TestPureStoreNeedsClientAndNamespace(t *testing.T) {
	ctx := context.Background()
	_, err := inventory.Store{Namespace: "n"}.List(ctx, "erlmcp")
	assert.ErrorContains(t, err, "no Client")
	s := offline(t)
	s.Namespace = ""
	_, err = s.LastDeployed(ctx, "erlmcp")
	assert.ErrorContains(t, err, "no Namespace")
}

func TestPureSizeLimit(t *testing.T) {
	// Random bytes do not compress: 1.1 MiB of them gzip to more than 1 MiB.
	r := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 1100*1024)
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	rel := &inventory.Release{Name: "big", Manifests: big}
	err := offline(t).Create(context.Background(), rel)
	require.Error(t, err)
	assert.Regexp(t, `^inventory: release big: the manifests are 110\d KiB gzipped \(110\d KiB with the release record\); a Secret holds at most 1 MiB$`, err.Error())
	assert.Zero(t, rel.Revision, "rel is untouched")
	assert.True(t, rel.Time.IsZero(), "rel is untouched")
}

// TestPureAddObjects: objects a deploy could not prune are added to its
// revision (those it holds already are not added twice), so the next
// deploy prunes them again; the revision's status is untouched.
func TestPureAddObjects(t *testing.T) {
	ctx := context.Background()
	st := inventory.Store{Client: fake.NewClientset(), Namespace: "ns"}
	cfg := inventory.Ref{APIVersion: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "cfg"}
	old := inventory.Ref{APIVersion: "v1", Kind: "Service", Namespace: "ns", Name: "old"}
	rel := &inventory.Release{Name: "web", Objects: []inventory.Ref{cfg}}
	require.NoError(t, st.Create(ctx, rel))
	require.NoError(t, st.SetStatus(ctx, "web", rel.Revision, inventory.Deployed, ""))
	require.NoError(t, st.AddObjects(ctx, "web", rel.Revision, []inventory.Ref{old, cfg}))
	got, err := st.Get(ctx, "web", rel.Revision)
	require.NoError(t, err)
	assert.Equal(t, []inventory.Ref{cfg, old}, got.Objects)
	assert.Equal(t, inventory.Deployed, got.Status)
	err = st.AddObjects(ctx, "web", 7, []inventory.Ref{old})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "has no revision 7")
}
