package testcluster

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// The default logs. kwok serves a pod's logs from the first ClusterLogs whose
// selector matches the pod, and reads ClusterLogs from an informer store in
// no fixed order: a default without a selector would compete at random with
// a namespace's own ClusterLogs (NamespaceLogs). So the default ClusterLogs
// names its namespaces — matchNamespaces only includes —, and a small
// reconciler keeps that list equal to every namespace minus those another
// ClusterLogs names. It runs for as long as the cluster: a goroutine of the
// Cluster a process starts, a component process of a detached cluster
// (RunDefaultLogs). The default also records the namespaces it leaves to
// others (excludedAnnotation), which is how NamespaceLogs knows the
// reconciler has seen its ClusterLogs.

const (
	// defaultLogsName is the default ClusterLogs (NamespaceLogs' are logs-<namespace>).
	defaultLogsName = "testcluster-default-logs"
	// excludedAnnotation on the default lists, comma-separated, the namespaces another ClusterLogs names.
	excludedAnnotation = "testcluster.erlmcp-deploy.io/excluded-namespaces"
	// noNamespace is what the default matches when no namespace is left: not a namespace name.
	noNamespace = "-"
)

// RunDefaultLogs keeps the default logs of the cluster whose directory is dir
// up to date until ctx ends, writing what goes wrong to log: the component
// process of a detached cluster (see Options.DefaultLogsCommand).
func RunDefaultLogs(ctx context.Context, dir string, log io.Writer) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "admin.kubeconfig"))
	if err != nil {
		return fmt.Errorf("default logs: load the kubeconfig of %s: %w", dir, err)
	}
	return runDefaultLogs(ctx, cfg, dir, log)
}

// runDefaultLogs writes the default log files into dir and reconciles the
// default ClusterLogs until ctx ends.
func runDefaultLogs(ctx context.Context, cfg *rest.Config, dir string, log io.Writer) error {
	entries, err := writeLogs(filepath.Join(dir, "default-logs"), defaultLogs())
	if err != nil {
		return fmt.Errorf("default logs: write the log files: %w", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("default logs: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("default logs: %w", err)
	}
	r := &defaultLogsReconciler{res: dyn.Resource(clusterLogsResource), entries: entries, log: log, kick: make(chan struct{}, 1)}
	return r.run(ctx, informers.NewSharedInformerFactory(client, 0), dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0))
}

// defaultLogsReconciler keeps the default ClusterLogs' selector equal to
// defaultSelector of what its informers hold.
type defaultLogsReconciler struct {
	res         dynamic.ResourceInterface
	entries     []any // the default's spec.logs
	log         io.Writer
	kick        chan struct{} // a change to look at (buffered: changes coalesce)
	namespaces  cache.Store
	clusterLogs cache.Store
}

// run starts the informers and reconciles on every change until ctx ends.
func (r *defaultLogsReconciler) run(ctx context.Context, core informers.SharedInformerFactory, dyn dynamicinformer.DynamicSharedInformerFactory) error {
	nsInformer := core.Core().V1().Namespaces().Informer()
	clInformer := dyn.ForResource(clusterLogsResource).Informer()
	poke := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { r.poke() },
		UpdateFunc: func(any, any) { r.poke() },
		DeleteFunc: func(any) { r.poke() },
	}
	for _, inf := range []cache.SharedIndexInformer{nsInformer, clInformer} {
		if _, err := inf.AddEventHandler(poke); err != nil {
			return fmt.Errorf("default logs: watch: %w", err)
		}
	}
	r.namespaces, r.clusterLogs = nsInformer.GetStore(), clInformer.GetStore()
	core.Start(ctx.Done())
	dyn.Start(ctx.Done())
	defer core.Shutdown()
	defer dyn.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), nsInformer.HasSynced, clInformer.HasSynced) {
		return nil // ctx ended
	}
	r.poke()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.kick:
		}
		if err := r.sync(ctx); err != nil && ctx.Err() == nil {
			fmt.Fprintf(r.log, "%s default logs: %v (retrying)\n", time.Now().Format(time.RFC3339Nano), err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(200 * time.Millisecond):
				r.poke()
			}
		}
	}
}

// poke asks for a reconcile; pokes while one is pending coalesce.
func (r *defaultLogsReconciler) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// sync applies the default ClusterLogs the informers call for, when it differs.
// It applies (server-side) rather than creates: the API server holds a create
// of a custom resource for 2 s when the CRD was established less than 2 s ago.
func (r *defaultLogsReconciler) sync(ctx context.Context) error {
	var namespaces, named []string
	for _, obj := range r.namespaces.List() {
		namespaces = append(namespaces, obj.(*corev1.Namespace).Name)
	}
	var current *unstructured.Unstructured
	for _, obj := range r.clusterLogs.List() {
		u := obj.(*unstructured.Unstructured)
		if u.GetName() == defaultLogsName {
			current = u
			continue
		}
		ns, _, _ := unstructured.NestedStringSlice(u.Object, "spec", "selector", "matchNamespaces")
		named = append(named, ns...)
	}
	match, excluded := defaultSelector(namespaces, named)
	want := r.desired(match, excluded)
	if current != nil && upToDate(current, want) {
		return nil
	}
	body, err := want.MarshalJSON()
	if err != nil {
		return err
	}
	force := true
	if _, err := r.res.Patch(ctx, defaultLogsName, types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: "testcluster-default-logs", Force: &force}); err != nil {
		return fmt.Errorf("apply ClusterLogs %s: %w", defaultLogsName, err)
	}
	return nil
}

// desired is the default ClusterLogs matching match and recording excluded.
func (r *defaultLogsReconciler) desired(match, excluded []string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "ClusterLogs",
		"metadata": map[string]any{
			"name":        defaultLogsName,
			"annotations": map[string]any{excludedAnnotation: strings.Join(excluded, ",")},
		},
		"spec": map[string]any{
			"logs":     r.entries,
			"selector": map[string]any{"matchNamespaces": toAny(match)},
		},
	}}
}

// upToDate reports whether current has want's spec and excluded namespaces.
func upToDate(current, want *unstructured.Unstructured) bool {
	return reflect.DeepEqual(current.Object["spec"], want.Object["spec"]) &&
		current.GetAnnotations()[excludedAnnotation] == want.GetAnnotations()[excludedAnnotation]
}

// defaultSelector returns the namespaces the default logs match — every
// namespace that no other ClusterLogs names — and those it leaves to others
// (every namespace they name, existing yet or not), both sorted.
func defaultSelector(namespaces, named []string) (match, excluded []string) {
	excluded = slices.Clone(named)
	slices.Sort(excluded)
	excluded = slices.Compact(excluded)
	for _, ns := range namespaces {
		if _, own := slices.BinarySearch(excluded, ns); !own {
			match = append(match, ns)
		}
	}
	slices.Sort(match)
	if len(match) == 0 {
		match = []string{noNamespace}
	}
	return match, excluded
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// waitDefaultLogs waits until the default logs leave namespace to its own
// ClusterLogs (own), or no longer do.
func (c *Cluster) waitDefaultLogs(ctx context.Context, namespace string, own bool) error {
	err := c.pollDefaultLogs(ctx, nil, func(_, excluded []string) bool { return slices.Contains(excluded, namespace) == own })
	if err != nil && own {
		return fmt.Errorf("wait for the default logs to leave namespace %s to its own: %w", namespace, err)
	}
	if err != nil {
		return fmt.Errorf("wait for the default logs to serve namespace %s again: %w", namespace, err)
	}
	return nil
}

// waitLogsCover waits until the pods of namespace have logs: the default
// logs name it, or leave it to its own.
func (c *Cluster) waitLogsCover(ctx context.Context, namespace string) error {
	err := c.pollDefaultLogs(ctx, nil, func(match, excluded []string) bool {
		return slices.Contains(match, namespace) || slices.Contains(excluded, namespace)
	})
	if err != nil {
		return fmt.Errorf("wait for the default logs to name namespace %s: %w", namespace, err)
	}
	return nil
}

// waitDefaultLogsReady waits until the reconciler has made the default
// ClusterLogs and it matches the namespace "default"; it fails early when a
// component died.
func (c *Cluster) waitDefaultLogsReady(ctx context.Context) error {
	err := c.pollDefaultLogs(ctx, c.componentDied, func(match, _ []string) bool { return slices.Contains(match, "default") })
	if err != nil {
		return fmt.Errorf("wait for the default logs (ClusterLogs %s): %w", defaultLogsName, err)
	}
	return nil
}

// pollDefaultLogs polls the default ClusterLogs for up to 30 s until cond
// holds for the namespaces it matches and those it leaves to others; a
// non-nil failed ends the wait early with its error.
func (c *Cluster) pollDefaultLogs(ctx context.Context, failed func() error, cond func(match, excluded []string) bool) error {
	ri, err := c.resource(clusterLogsResource, "")
	if err != nil {
		return err
	}
	return wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		if failed != nil {
			if err := failed(); err != nil {
				return false, err
			}
		}
		u, err := ri.Get(ctx, defaultLogsName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		match, _, _ := unstructured.NestedStringSlice(u.Object, "spec", "selector", "matchNamespaces")
		return cond(match, strings.Split(u.GetAnnotations()[excludedAnnotation], ",")), nil
	})
}
