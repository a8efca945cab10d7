package testcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	sigsyaml "sigs.k8s.io/yaml"
)

// RepoRoot finds the repository root (the directory holding test/cluster/tools).
func RepoRoot() (string, error) {
	tools, err := ToolsDir()
	if err != nil {
		return "", err
	}
	return filepath.Dir(filepath.Dir(filepath.Dir(tools))), nil
}

// Apply server-side-applies every object of a multi-document YAML stream. A
// non-empty namespace replaces the namespace of namespaced objects (and of
// ServiceAccount subjects in RoleBindings), so one manifest serves many tests.
func (c *Cluster) Apply(ctx context.Context, manifests []byte, namespace string) error {
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Client.Discovery()))
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	for {
		var obj unstructured.Unstructured
		if err := dec.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("decode manifest: %w", err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		gvk := obj.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("map %s: %w", gvk, err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			if namespace != "" {
				obj.SetNamespace(namespace)
				retargetSubjects(&obj, namespace)
			}
			if obj.GetNamespace() == "" {
				obj.SetNamespace("default")
			}
			ri = dyn.Resource(m.Resource).Namespace(obj.GetNamespace())
		}
		data, err := obj.MarshalJSON()
		if err != nil {
			return err
		}
		force := true
		if _, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: "erlmcp-testcluster", Force: &force}); err != nil {
			return fmt.Errorf("apply %s %s/%s: %w", gvk.Kind, obj.GetNamespace(), obj.GetName(), err)
		}
	}
}

func retargetSubjects(obj *unstructured.Unstructured, namespace string) {
	subjects, ok, _ := unstructured.NestedSlice(obj.Object, "subjects")
	if !ok {
		return
	}
	for _, s := range subjects {
		if m, ok := s.(map[string]any); ok && m["kind"] == "ServiceAccount" {
			m["namespace"] = namespace
		}
	}
	_ = unstructured.SetNestedSlice(obj.Object, subjects, "subjects")
}

// EnsureNamespace creates the namespace if it does not exist, and waits until
// its pods have logs (the default logs name it, or it has its own).
func (c *Cluster) EnsureNamespace(ctx context.Context, name string) error {
	_, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return c.waitLogsCover(ctx, name)
}

// Identity is a least-privilege identity: the erlmcp-deployer ServiceAccount
// of examples/kubernetes/rbac.yaml, in one namespace.
type Identity struct {
	Namespace  string
	Kubeconfig string // path; its default namespace is Namespace
	Token      string
	Config     *rest.Config
	Client     kubernetes.Interface
}

// Deployer applies examples/kubernetes/rbac.yaml to namespace (created if
// needed) and returns a kubeconfig for its ServiceAccount, authenticated by a
// real service-account token: what the deploy and rollback e2e tests run as.
func (c *Cluster) Deployer(ctx context.Context, namespace string) (*Identity, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	manifest, err := os.ReadFile(filepath.Join(root, "examples", "kubernetes", "rbac.yaml"))
	if err != nil {
		return nil, err
	}
	if err := c.EnsureNamespace(ctx, namespace); err != nil {
		return nil, err
	}
	if err := c.Apply(ctx, manifest, namespace); err != nil {
		return nil, err
	}
	return c.identity(ctx, namespace, namespace, "deployer-"+namespace)
}

// identity is the erlmcp-deployer ServiceAccount of home, authenticated by a
// real service-account token, with a kubeconfig (named file) whose default
// namespace is namespace.
func (c *Cluster) identity(ctx context.Context, home, namespace, file string) (*Identity, error) {
	exp := int64((24 * time.Hour).Seconds())
	tr, err := c.Client.CoreV1().ServiceAccounts(home).CreateToken(ctx, "erlmcp-deployer",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("token for %s/erlmcp-deployer: %w", home, err)
	}
	id := &Identity{Namespace: namespace, Token: tr.Status.Token, Kubeconfig: filepath.Join(c.Dir, file+".kubeconfig")}
	if err := WriteKubeconfig(id.Kubeconfig, c.Server, c.caPEM, "erlmcp-deployer", id.Token, namespace); err != nil {
		return nil, err
	}
	id.Config = &rest.Config{Host: c.Server, BearerToken: id.Token, TLSClientConfig: rest.TLSClientConfig{CAData: c.caPEM}, QPS: 50, Burst: 100}
	if id.Client, err = kubernetes.NewForConfig(id.Config); err != nil {
		return nil, err
	}
	return id, nil
}

// NamespaceDeployer applies examples/kubernetes/rbac-namespace.yaml for a
// release namespace that need not exist (namespace): its ServiceAccount in
// home (created), bound cluster-wide to the Role's verbs and to creating
// namespace (the ClusterRole and its binding named after home, so tests do
// not share them). It returns a kubeconfig for that ServiceAccount whose
// default namespace is namespace.
func (c *Cluster) NamespaceDeployer(ctx context.Context, home, namespace string) (*Identity, error) {
	return c.clusterDeployer(ctx, "rbac-namespace.yaml", home, namespace, "namespace-deployer-"+home)
}

// PreviewDeployer applies examples/kubernetes/rbac-preview.yaml for the
// preview action: its ServiceAccount in home (created), bound cluster-wide
// (the ClusterRole and its binding named after home). It returns a
// kubeconfig for that ServiceAccount whose default namespace is home.
func (c *Cluster) PreviewDeployer(ctx context.Context, home string) (*Identity, error) {
	return c.clusterDeployer(ctx, "rbac-preview.yaml", home, home, "preview-deployer-"+home)
}

// clusterDeployer applies the cluster-wide identity of examples/kubernetes/file,
// made for home and namespace by NamespaceDeployerObjects, and returns its
// kubeconfig (written to the cluster's directory as file name kubeconfig).
func (c *Cluster) clusterDeployer(ctx context.Context, file, home, namespace, kubeconfig string) (*Identity, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(root, "examples", "kubernetes", file))
	if err != nil {
		return nil, err
	}
	objs, err := NamespaceDeployerObjects(b, home, namespace)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var stream []byte
	for _, o := range objs {
		y, err := sigsyaml.Marshal(o.Object)
		if err != nil {
			return nil, err
		}
		stream = append(append(stream, "---\n"...), y...)
	}
	if err := c.Apply(ctx, stream, ""); err != nil {
		return nil, err
	}
	return c.identity(ctx, home, namespace, kubeconfig)
}

// NamespaceDeployerObjects are the objects of rbac-namespace.yaml made for
// one test: the ServiceAccount's namespace is home, the ClusterRole and its
// binding carry home in their names, and the namespace they name is namespace.
func NamespaceDeployerObjects(manifests []byte, home, namespace string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	var out []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("decode the RBAC manifests: %w", err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		switch obj.GetKind() {
		case "Namespace":
			obj.SetName(home)
		case "ServiceAccount":
			obj.SetNamespace(home)
		case "ClusterRole":
			obj.SetName(obj.GetName() + "-" + home)
			rules, _, _ := unstructured.NestedSlice(obj.Object, "rules")
			for _, r := range rules {
				if m, ok := r.(map[string]any); ok && m["resourceNames"] != nil {
					m["resourceNames"] = []any{namespace}
				}
			}
			if err := unstructured.SetNestedSlice(obj.Object, rules, "rules"); err != nil {
				return nil, err
			}
		case "ClusterRoleBinding":
			obj.SetName(obj.GetName() + "-" + home)
			role, _, _ := unstructured.NestedString(obj.Object, "roleRef", "name")
			if err := unstructured.SetNestedField(obj.Object, role+"-"+home, "roleRef", "name"); err != nil {
				return nil, err
			}
			retargetSubjects(obj, home)
		}
		out = append(out, obj)
	}
}

// ExampleManifests reads examples/kubernetes as one stream: the namespace,
// the deployer's RBAC, then the erlmcp release (examples/kubernetes/erlmcp).
func ExampleManifests(root string) ([]byte, error) {
	dir := filepath.Join(root, "examples", "kubernetes")
	release, err := filepath.Glob(filepath.Join(dir, "erlmcp", "*.yaml"))
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, f := range append([]string{filepath.Join(dir, "namespace.yaml"), filepath.Join(dir, "rbac.yaml")}, release...) {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if len(out) > 0 {
			out = append(out, "\n---\n"...)
		}
		out = append(out, b...)
	}
	return out, nil
}

// BootstrapManifests reads what a cluster admin applies once, before the
// first deploy, as one stream: examples/kubernetes/namespace.yaml and
// rbac.yaml (the deployer's identity). The release in
// examples/kubernetes/erlmcp is then the deployer's to apply.
func BootstrapManifests(root string) ([]byte, error) {
	dir := filepath.Join(root, "examples", "kubernetes")
	var out []byte
	for _, f := range []string{"namespace.yaml", "rbac.yaml"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return nil, err
		}
		if len(out) > 0 {
			out = append(out, "\n---\n"...)
		}
		out = append(out, b...)
	}
	return out, nil
}
