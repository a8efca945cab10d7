package testcluster_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/org/erlmcp-deploy/internal/bootcause"
	"github.com/org/erlmcp-deploy/internal/testcluster"
)

const crashLoopImage = "ghcr.io/acme/erlmcp:1.2.0-fault-crashloop"

// TestPureDefaultPreviousLogNamesNoCause: the crashed instance's default log
// must not make a deploy fail a rollout at the first crash.
func TestPureDefaultPreviousLogNamesNoCause(t *testing.T) {
	assertNoCause(t, testcluster.PreviousContainerLog)
}

func assertNoCause(t *testing.T, log string) {
	t.Helper()
	c := bootcause.Classify([]byte(log))
	assert.Contains(t, []string{"", bootcause.CrashUnknown}, c.Class, "cause %+v", c)
	assert.False(t, c.Permanent, "cause %+v", c)
}

// TestLogsPrecedence: a namespace's own logs win over the default for every
// pod and every read, a per-pod Logs wins over both, and a namespace without
// its own gets the neutral default. Between rounds of reads the ClusterLogs
// change, so kwok reorders them (it lists them from an informer store): a
// default competing with a namespace's own would lose some rounds.
func TestLogsPrecedence(t *testing.T) {
	ctx := ctxFor(t, 4*time.Minute)
	own, other := "logs-own", "logs-other"
	require.NoError(t, cluster.EnsureNamespace(ctx, own))
	ownLogs := testcluster.ContainerLogs{Previous: "[info] erlmcp starting\n[error] the namespace's own crash\n"}
	cleanup, err := cluster.NamespaceLogs(ctx, own, ownLogs)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, cleanup()) })
	pinnedLogs := testcluster.ContainerLogs{Previous: "[error] the pinned pod's own crash\n"}
	unpin, err := cluster.PodLogs(ctx, own, "pinned", pinnedLogs)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, unpin()) })

	createCrashLoop(t, ctx, own, 3)
	_, err = cluster.Client.CoreV1().Pods(own).Create(ctx, simPod("pinned", crashLoopImage), metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, cluster.EnsureNamespace(ctx, other))
	createCrashLoop(t, ctx, other, 2)
	want := map[string]string{}
	for _, p := range waitCrashed(t, ctx, own, 4) {
		want[own+"/"+p] = ownLogs.Previous
	}
	want[own+"/pinned"] = pinnedLogs.Previous
	for _, p := range waitCrashed(t, ctx, other, 2) {
		want[other+"/"+p] = testcluster.PreviousContainerLog
	}
	require.Len(t, want, 6)

	for round := range 8 {
		churn, err := cluster.NamespaceLogs(ctx, fmt.Sprintf("logs-churn-%d", round), testcluster.ContainerLogs{Previous: "churn\n"})
		require.NoError(t, err)
		for key, log := range want {
			ns, pod, _ := strings.Cut(key, "/")
			assert.Equal(t, log, previousLog(t, ctx, ns, pod), "round %d: previous log of %s", round, key)
		}
		require.NoError(t, churn())
	}
	assertNoCause(t, previousLog(t, ctx, other, podsOf(t, ctx, other)[0]))
}

// TestNewNamespacesGetTheDefaultLogs: the ordinary flow — a namespace, then a
// Deployment whose pods crash at once — never finds a pod without logs, even
// when nothing waits for the reconciler (EnsureNamespace does): it names a
// new namespace in the default logs before the namespace's first pod crashes.
func TestNewNamespacesGetTheDefaultLogs(t *testing.T) {
	ctx := ctxFor(t, 3*time.Minute)
	named := watchDefaultLogs(t, ctx)
	for i := range 5 {
		ns := fmt.Sprintf("logs-fresh-%d", i)
		start := time.Now()
		_, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		require.NoError(t, err)
		createCrashLoop(t, ctx, ns, 1)
		pod := waitCrashed(t, ctx, ns, 1)[0]
		crashed := time.Since(start)
		assert.Equal(t, testcluster.PreviousContainerLog, previousLog(t, ctx, ns, pod), "read at once after the first crash")
		at, ok := named(ns)
		require.True(t, ok, "the default logs name %s", ns)
		t.Logf("%s: named in the default logs %s after its creation, first crash seen %s after", ns, at.Sub(start).Round(time.Millisecond), crashed.Round(time.Millisecond))
		assert.Less(t, at.Sub(start), crashed, "named before the first crash")
	}
}

// watchDefaultLogs watches the default ClusterLogs and returns when each
// namespace was first seen in its selector.
func watchDefaultLogs(t *testing.T, ctx context.Context) func(ns string) (time.Time, bool) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(cluster.Config)
	require.NoError(t, err)
	gvr := schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "clusterlogs"}
	w, err := dyn.Resource(gvr).Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", testcluster.DefaultLogsName).String()})
	require.NoError(t, err)
	t.Cleanup(w.Stop)
	var mu sync.Mutex
	seen := map[string]time.Time{}
	go func() {
		for ev := range w.ResultChan() {
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			now := time.Now()
			names, _, _ := unstructured.NestedStringSlice(u.Object, "spec", "selector", "matchNamespaces")
			mu.Lock()
			for _, ns := range names {
				if _, ok := seen[ns]; !ok {
					seen[ns] = now
				}
			}
			mu.Unlock()
		}
	}()
	return func(ns string) (time.Time, bool) {
		mu.Lock()
		defer mu.Unlock()
		at, ok := seen[ns]
		return at, ok
	}
}

// createCrashLoop creates a Deployment crasher of n crash-looping replicas in ns.
func createCrashLoop(t *testing.T, ctx context.Context, ns string, n int32) {
	t.Helper()
	_, err := cluster.Client.AppsV1().Deployments(ns).Create(ctx, testcluster.Deployment("crasher", crashLoopImage, n), metav1.CreateOptions{})
	require.NoError(t, err)
}

// waitCrashed waits until n pods of ns have restarted and returns their names, sorted.
func waitCrashed(t *testing.T, ctx context.Context, ns string, n int) []string {
	t.Helper()
	var crashed []string
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		crashed = crashed[:0]
		for _, p := range pods.Items {
			if restartCount(&p) > 0 {
				crashed = append(crashed, p.Name)
			}
		}
		return len(crashed) >= n, nil
	})
	require.NoError(t, err, "waiting for %d crashed pods in %s; crashed: %v", n, ns, crashed)
	sort.Strings(crashed)
	return crashed
}

// podsOf returns the names of the pods of ns, sorted.
func podsOf(t *testing.T, ctx context.Context, ns string) []string {
	t.Helper()
	pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	var names []string
	for _, p := range pods.Items {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	require.NotEmpty(t, names, "pods in %s", ns)
	return names
}

// previousLog reads the previous instance's log of the erlmcp container of pod, through the API server.
func previousLog(t *testing.T, ctx context.Context, ns, pod string) string {
	t.Helper()
	b, err := cluster.Client.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: "erlmcp", Previous: true}).DoRaw(ctx)
	require.NoError(t, err, "previous log of %s/%s", ns, pod)
	return string(b)
}
