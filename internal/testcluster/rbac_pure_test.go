package testcluster_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/org/erlmcp-deploy/internal/testcluster"
)

// grants are the (group, resource, verb) triples of an RBAC object's rules
// without resourceNames.
func grants(t *testing.T, u *unstructured.Unstructured) map[[3]string]bool {
	t.Helper()
	out := map[[3]string]bool{}
	rules, _, err := unstructured.NestedSlice(u.Object, "rules")
	require.NoError(t, err)
	for _, r := range rules {
		m := r.(map[string]any)
		if m["resourceNames"] != nil {
			continue
		}
		for _, g := range m["apiGroups"].([]any) {
			for _, res := range m["resources"].([]any) {
				for _, v := range m["verbs"].([]any) {
					out[[3]string{g.(string), res.(string), v.(string)}] = true
				}
			}
		}
	}
	return out
}

func exampleObjects(t *testing.T, file string) []*unstructured.Unstructured {
	t.Helper()
	root, err := testcluster.RepoRoot()
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(root, "examples", "kubernetes", file))
	require.NoError(t, err)
	objs, err := testcluster.NamespaceDeployerObjects(b, "ci", "erlmcp-staging")
	require.NoError(t, err)
	return objs
}

// TestPureNamespaceDeployerHasTheRolesVerbs: the ClusterRole of
// rbac-namespace.yaml grants every verb of rbac.yaml's Role (it is that
// Role, cluster-wide, plus the namespace), so the two never drift apart;
// the test helper retargets it to one test's namespaces.
func TestPureNamespaceDeployerHasTheRolesVerbs(t *testing.T) {
	var role, clusterRole, binding *unstructured.Unstructured
	for _, o := range exampleObjects(t, "rbac.yaml") {
		if o.GetKind() == "Role" {
			role = o
		}
	}
	for _, o := range exampleObjects(t, "rbac-namespace.yaml") {
		switch o.GetKind() {
		case "ClusterRole":
			clusterRole = o
		case "ClusterRoleBinding":
			binding = o
		case "ServiceAccount":
			assert.Equal(t, "ci", o.GetNamespace())
		case "Namespace":
			assert.Equal(t, "ci", o.GetName())
		}
	}
	require.NotNil(t, role)
	require.NotNil(t, clusterRole)
	require.NotNil(t, binding)
	cluster := grants(t, clusterRole)
	for g := range grants(t, role) {
		assert.True(t, cluster[g], "rbac-namespace.yaml lacks %v of rbac.yaml's Role", g)
	}
	assert.True(t, cluster[[3]string{"", "namespaces", "create"}])
	assert.False(t, cluster[[3]string{"", "namespaces", "delete"}], "delete only for the named namespace")
	rules, _, _ := unstructured.NestedSlice(clusterRole.Object, "rules")
	var named []any
	for _, r := range rules {
		if n := r.(map[string]any)["resourceNames"]; n != nil {
			named = n.([]any)
		}
	}
	assert.Equal(t, []any{"erlmcp-staging"}, named)
	assert.Equal(t, "erlmcp-deployer-namespace-ci", clusterRole.GetName())
	ref, _, _ := unstructured.NestedString(binding.Object, "roleRef", "name")
	assert.Equal(t, clusterRole.GetName(), ref)
}

// TestPurePreviewDeployerHasTheRolesVerbs: rbac-preview.yaml grants every
// verb of rbac.yaml's Role cluster-wide, plus what the preview action does
// to namespaces and to their ResourceQuota and LimitRange.
func TestPurePreviewDeployerHasTheRolesVerbs(t *testing.T) {
	var role, clusterRole *unstructured.Unstructured
	for _, o := range exampleObjects(t, "rbac.yaml") {
		if o.GetKind() == "Role" {
			role = o
		}
	}
	for _, o := range exampleObjects(t, "rbac-preview.yaml") {
		if o.GetKind() == "ClusterRole" {
			clusterRole = o
		}
	}
	require.NotNil(t, role)
	require.NotNil(t, clusterRole)
	cluster := grants(t, clusterRole)
	for g := range grants(t, role) {
		assert.True(t, cluster[g], "rbac-preview.yaml lacks %v of rbac.yaml's Role", g)
	}
	for _, g := range [][3]string{{"", "namespaces", "create"}, {"", "namespaces", "list"}, {"", "namespaces", "patch"},
		{"", "namespaces", "delete"}, {"", "resourcequotas", "create"}, {"", "resourcequotas", "update"},
		{"", "limitranges", "create"}, {"", "limitranges", "update"}} {
		assert.True(t, cluster[g], "rbac-preview.yaml lacks %v", g)
	}
}
