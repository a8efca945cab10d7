package testcluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/org/erlmcp-deploy/internal/testcluster"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) {
	if os.Getenv("TESTCLUSTER_CHILD") == "panic" {
		panicChild()
		return
	}
	testcluster.Main(m, &cluster)
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitDeployment polls until cond holds for the Deployment.
func waitDeployment(t *testing.T, ctx context.Context, c kubernetes.Interface, ns, name, what string, cond func(*appsv1.Deployment) bool) *appsv1.Deployment {
	t.Helper()
	var last *appsv1.Deployment
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		d, err := c.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = d
		return cond(d), nil
	})
	require.NoError(t, err, "waiting for %s; last status: %+v", what, last)
	return last
}

func available(replicas int32) func(*appsv1.Deployment) bool {
	return func(d *appsv1.Deployment) bool {
		s := d.Status
		return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == replicas && s.AvailableReplicas == replicas &&
			s.Replicas == replicas && s.UnavailableReplicas == 0
	}
}

// TestDeploymentRollsOutAsLeastPrivilegeIdentity: a 3-replica Deployment becomes
// Available, the deployer identity changes its image, the new ReplicaSet rolls
// out, and an image-only change to a fault tag produces a bad release.
func TestDeploymentRollsOutAsLeastPrivilegeIdentity(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	ns := "rollout"
	id, err := cluster.Deployer(ctx, ns)
	require.NoError(t, err)
	_, err = cluster.Client.AppsV1().Deployments(ns).Create(ctx, testcluster.Deployment("erlmcp", "ghcr.io/acme/erlmcp:1.0.0", 3), metav1.CreateOptions{})
	require.NoError(t, err)

	start := time.Now()
	waitDeployment(t, ctx, id.Client, ns, "erlmcp", "3 available replicas", available(3))
	t.Logf("3 replicas available in %s", time.Since(start).Round(time.Millisecond))

	patch := `{"spec":{"template":{"spec":{"containers":[{"name":"erlmcp","image":"ghcr.io/acme/erlmcp:1.1.0"}]}}}}`
	_, err = id.Client.AppsV1().Deployments(ns).Patch(ctx, "erlmcp", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	require.NoError(t, err, "the deployer identity may patch its Deployment")
	start = time.Now()
	d := waitDeployment(t, ctx, id.Client, ns, "erlmcp", "rollout of 1.1.0", available(3))
	t.Logf("image change rolled out in %s", time.Since(start).Round(time.Millisecond))
	assert.Equal(t, "2", d.Annotations["deployment.kubernetes.io/revision"])

	rss, err := id.Client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=erlmcp"})
	require.NoError(t, err)
	require.Len(t, rss.Items, 2)
	for _, rs := range rss.Items {
		switch rs.Annotations["deployment.kubernetes.io/revision"] {
		case "1":
			assert.Equal(t, int32(0), *rs.Spec.Replicas, "old ReplicaSet scaled down")
		case "2":
			assert.Equal(t, "ghcr.io/acme/erlmcp:1.1.0", rs.Spec.Template.Spec.Containers[0].Image)
			assert.Equal(t, int32(3), rs.Status.ReadyReplicas)
		default:
			t.Errorf("unexpected revision %q", rs.Annotations["deployment.kubernetes.io/revision"])
		}
	}

	// A bad release made by an image change only: the surge pod crash-loops,
	// maxUnavailable 0 keeps the three good pods serving.
	patch = `{"spec":{"template":{"spec":{"containers":[{"name":"erlmcp","image":"ghcr.io/acme/erlmcp:1.2.0-fault-crashloop"}]}}}}`
	_, err = id.Client.AppsV1().Deployments(ns).Patch(ctx, "erlmcp", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	require.NoError(t, err)
	pod := waitPod(t, ctx, id.Client, ns, "app=erlmcp", "a crash-looping new pod", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && waitingReason(p) == "CrashLoopBackOff"
	})
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.2.0-fault-crashloop", pod.Spec.Containers[0].Image)
	d = waitDeployment(t, ctx, id.Client, ns, "erlmcp", "the status to count the new pod", func(d *appsv1.Deployment) bool {
		return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == 1
	})
	assert.Equal(t, int32(3), d.Status.AvailableReplicas, "old pods keep serving")
}

func waitingReason(p *corev1.Pod) string {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Waiting != nil {
			return cs.State.Waiting.Reason
		}
	}
	return ""
}

func waitPod(t *testing.T, ctx context.Context, c kubernetes.Interface, ns, selector, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var found *corev1.Pod
	var seen []string
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, nil
		}
		seen = seen[:0]
		for i := range pods.Items {
			p := &pods.Items[i]
			b, _ := json.Marshal(p.Status.ContainerStatuses)
			seen = append(seen, fmt.Sprintf("%s %s %s", p.Name, p.Status.Phase, b))
			if cond(p) {
				found = p
				return true, nil
			}
		}
		return false, nil
	})
	require.NoError(t, err, "waiting for %s; pods: %s", what, strings.Join(seen, "\n"))
	return found
}

// TestFaultTags checks the image-tag contract of stages.yaml, pod by pod.
func TestFaultTags(t *testing.T) {
	ctx := ctxFor(t, 3*time.Minute)
	ns := "faults"
	require.NoError(t, cluster.EnsureNamespace(ctx, ns))
	c := cluster.Client

	type observation struct {
		pod     *corev1.Pod
		reasons []string // every distinct waiting reason seen, in order
		readyAt time.Duration
	}
	// observe creates a pod with image and watches it until done says so.
	observe := func(t *testing.T, name, image string, done func(o *observation) bool) *observation {
		t.Helper()
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"test": name}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "erlmcp", Image: image}, {Name: "sidecar", Image: "busybox:1.36"}}}}
		created, err := c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		require.NoError(t, err)
		start := time.Now()
		w, err := c.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(), ResourceVersion: created.ResourceVersion})
		require.NoError(t, err)
		defer w.Stop()
		o := &observation{}
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			o.pod = p
			if r := containerWaiting(p, "erlmcp"); r != "" && (len(o.reasons) == 0 || o.reasons[len(o.reasons)-1] != r) {
				o.reasons = append(o.reasons, r)
			}
			if o.readyAt == 0 && podReady(p) {
				o.readyAt = time.Since(start)
			}
			if done(o) {
				return o
			}
		}
		require.FailNow(t, "watch ended", "pod %s: %v; last status %+v", name, ctx.Err(), o.pod)
		return nil
	}

	t.Run("plain tag is ready at once", func(t *testing.T) {
		t.Parallel()
		o := observe(t, "plain", "ghcr.io/acme/erlmcp:1.0.0", func(o *observation) bool { return o.readyAt > 0 })
		assert.Less(t, o.readyAt, 10*time.Second)
		assert.Equal(t, corev1.PodRunning, o.pod.Status.Phase)
	})

	t.Run("fault-imagepull", func(t *testing.T) {
		t.Parallel()
		o := observe(t, "imagepull", "ghcr.io/acme/erlmcp:1.2.0-fault-imagepull", func(o *observation) bool {
			return len(o.reasons) > 0 && o.reasons[len(o.reasons)-1] == "ImagePullBackOff"
		})
		assert.Equal(t, []string{"ErrImagePull", "ImagePullBackOff"}, o.reasons)
		assert.Equal(t, corev1.PodPending, o.pod.Status.Phase)
		assert.Contains(t, containerStatus(o.pod, "erlmcp").State.Waiting.Message, "ghcr.io/acme/erlmcp:1.2.0-fault-imagepull")
		assert.True(t, containerStatus(o.pod, "sidecar").Ready, "only the container with the fault tag fails")
		assertEvent(t, ctx, c, ns, "imagepull", "Failed", "not found")
	})

	t.Run("fault-crashloop", func(t *testing.T) {
		t.Parallel()
		var first int32
		o := observe(t, "crashloop", "ghcr.io/acme/erlmcp:1.2.0-fault-crashloop", func(o *observation) bool {
			cs := containerStatus(o.pod, "erlmcp")
			if cs == nil || cs.RestartCount == 0 {
				return false
			}
			if first == 0 {
				first = cs.RestartCount
			}
			return cs.RestartCount > first
		})
		cs := containerStatus(o.pod, "erlmcp")
		assert.Equal(t, corev1.PodRunning, o.pod.Status.Phase)
		require.NotNil(t, cs.State.Waiting)
		assert.Equal(t, "CrashLoopBackOff", cs.State.Waiting.Reason)
		require.NotNil(t, cs.LastTerminationState.Terminated)
		assert.Equal(t, int32(1), cs.LastTerminationState.Terminated.ExitCode)
		assert.Greater(t, cs.RestartCount, first, "restart count rises")
		assert.False(t, podReady(o.pod))
		assertEvent(t, ctx, c, ns, "crashloop", "BackOff", "restarting failed container")
		prev, err := c.CoreV1().Pods(ns).GetLogs("crashloop", &corev1.PodLogOptions{Container: "erlmcp", Previous: true}).DoRaw(ctx)
		require.NoError(t, err, "kwok serves the previous container's logs through the apiserver")
		assert.Equal(t, testcluster.PreviousContainerLog, string(prev), "the default: no test chose this namespace's logs")
		cur, err := c.CoreV1().Pods(ns).GetLogs("crashloop", &corev1.PodLogOptions{Container: "erlmcp", TailLines: ptr.To(int64(1))}).DoRaw(ctx)
		require.NoError(t, err)
		assert.Equal(t, "[info] erlmcp_registry: 3 tools registered\n", string(cur))
	})

	t.Run("fault-configerror", func(t *testing.T) {
		t.Parallel()
		o := observe(t, "configerror", "ghcr.io/acme/erlmcp:1.2.0-fault-configerror", func(o *observation) bool { return len(o.reasons) > 0 })
		assert.Equal(t, []string{"CreateContainerConfigError"}, o.reasons)
		assert.Equal(t, corev1.PodPending, o.pod.Status.Phase)
		assert.Contains(t, containerStatus(o.pod, "erlmcp").State.Waiting.Message, "not found")
	})

	t.Run("fault-oom", func(t *testing.T) {
		t.Parallel()
		var first int32
		o := observe(t, "oom", "ghcr.io/acme/erlmcp:1.2.0-fault-oom", func(o *observation) bool {
			cs := containerStatus(o.pod, "erlmcp")
			if cs == nil || cs.RestartCount == 0 {
				return false
			}
			if first == 0 {
				first = cs.RestartCount
			}
			return cs.RestartCount > first
		})
		cs := containerStatus(o.pod, "erlmcp")
		require.NotNil(t, cs.LastTerminationState.Terminated)
		assert.Equal(t, "OOMKilled", cs.LastTerminationState.Terminated.Reason)
		assert.Equal(t, int32(137), cs.LastTerminationState.Terminated.ExitCode)
		require.NotNil(t, cs.State.Waiting, "backing off before the next restart")
		assert.Equal(t, "CrashLoopBackOff", cs.State.Waiting.Reason)
		assert.False(t, cs.Ready)
		assert.False(t, podReady(o.pod))
	})

	t.Run("fault-neverready", func(t *testing.T) {
		t.Parallel()
		o := observe(t, "neverready", "ghcr.io/acme/erlmcp:1.2.0-fault-neverready", func(o *observation) bool {
			return o.pod.Status.Phase == corev1.PodRunning
		})
		assert.NotNil(t, containerStatus(o.pod, "erlmcp").State.Running)
		assert.False(t, podReady(o.pod))
		time.Sleep(3 * time.Second) // an observation window: it must still not be ready
		p, err := c.CoreV1().Pods(ns).Get(ctx, "neverready", metav1.GetOptions{})
		require.NoError(t, err)
		assert.False(t, podReady(p), "never becomes ready")
		assert.False(t, containerStatus(p, "erlmcp").Ready)
		assertEvent(t, ctx, c, ns, "neverready", "Unhealthy", "Readiness probe failed")
	})

	t.Run("slowstart-4s", func(t *testing.T) {
		t.Parallel()
		sawRunningUnready := false
		o := observe(t, "slowstart", "ghcr.io/acme/erlmcp:1.2.0-slowstart-4s", func(o *observation) bool {
			if o.pod.Status.Phase == corev1.PodRunning && !podReady(o.pod) {
				sawRunningUnready = true
			}
			return o.readyAt > 0
		})
		assert.True(t, sawRunningUnready, "runs, not ready, before it is ready")
		created := o.pod.CreationTimestamp.Time
		readyCond := podCondition(o.pod, corev1.PodReady)
		require.NotNil(t, readyCond)
		// creationTimestamp has second precision: allow one second of rounding.
		assert.GreaterOrEqual(t, readyCond.LastTransitionTime.Sub(created), 3*time.Second)
		assert.Less(t, o.readyAt, 15*time.Second)
		t.Logf("slowstart-4s ready after %s", o.readyAt.Round(time.Millisecond))
	})
}

func containerStatus(p *corev1.Pod, name string) *corev1.ContainerStatus {
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == name {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}

func containerWaiting(p *corev1.Pod, name string) string {
	if cs := containerStatus(p, name); cs != nil && cs.State.Waiting != nil {
		return cs.State.Waiting.Reason
	}
	return ""
}

func podCondition(p *corev1.Pod, typ corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == typ {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func podReady(p *corev1.Pod) bool {
	c := podCondition(p, corev1.PodReady)
	return c != nil && c.Status == corev1.ConditionTrue
}

func assertEvent(t *testing.T, ctx context.Context, c kubernetes.Interface, ns, pod, reason, message string) {
	t.Helper()
	var got []string
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		evs, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod})
		if err != nil {
			return false, nil
		}
		got = got[:0]
		for _, e := range evs.Items {
			got = append(got, e.Reason+": "+e.Message)
			if e.Reason == reason && strings.Contains(e.Message, message) {
				return true, nil
			}
		}
		return false, nil
	})
	assert.NoError(t, err, "event %s %q for pod %s; got %v", reason, message, pod, got)
}

// TestDeployerHasOnlyWhatItNeeds: the identity of examples/kubernetes/rbac.yaml
// is namespaced and cannot create, delete or reach other namespaces.
func TestDeployerHasOnlyWhatItNeeds(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	id, err := cluster.Deployer(ctx, "rbac")
	require.NoError(t, err)
	require.NoError(t, cluster.EnsureNamespace(ctx, "elsewhere"))

	allowed := func(ns, group, resource, sub, verb string) bool {
		r, err := id.Client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: ns, Group: group, Resource: resource, Subresource: sub, Verb: verb}}}, metav1.CreateOptions{})
		require.NoError(t, err)
		return r.Status.Allowed
	}
	for _, tc := range []struct {
		ns, group, resource, sub, verb string
		want                           bool
	}{
		{"rbac", "apps", "deployments", "", "patch", true},
		{"rbac", "apps", "deployments", "", "watch", true},
		{"rbac", "apps", "replicasets", "", "list", true},
		{"rbac", "", "pods", "log", "get", true},
		{"rbac", "", "events", "", "list", true},
		{"rbac", "coordination.k8s.io", "leases", "", "create", true},
		{"rbac", "apps", "deployments", "", "create", true}, // a manifest release's first deploy
		{"rbac", "apps", "deployments", "", "delete", true}, // prune, and the rollback of a release
		{"rbac", "", "configmaps", "", "patch", true},
		{"rbac", "", "secrets", "", "create", true}, // the release inventory
		{"rbac", "", "secrets", "", "patch", false},
		{"rbac", "apps", "statefulsets", "", "create", false},
		{"rbac", "rbac.authorization.k8s.io", "roles", "", "patch", false},
		{"rbac", "", "pods", "", "delete", false},
		{"", "", "namespaces", "", "create", false},
		{"elsewhere", "apps", "deployments", "", "get", false},
		{"", "", "nodes", "", "list", false},
	} {
		assert.Equal(t, tc.want, allowed(tc.ns, tc.group, tc.resource, tc.sub, tc.verb), "%s %s/%s %s in %q", tc.verb, tc.group, tc.resource, tc.sub, tc.ns)
	}
	_, err = id.Client.AppsV1().Deployments("elsewhere").List(ctx, metav1.ListOptions{})
	assert.True(t, apierrors.IsForbidden(err), "a real request is refused too: %v", err)
}

// TestStopEndsOnlyItsOwnProcesses starts a second cluster beside the shared
// one, stops it, and checks its processes and directory are gone while the
// shared cluster still answers.
func TestStopEndsOnlyItsOwnProcesses(t *testing.T) {
	ctx := ctxFor(t, 5*time.Minute)
	second, err := testcluster.New(ctx, testcluster.Options{Nodes: 1})
	require.NoError(t, err)
	pids := second.PIDs()
	require.Len(t, pids, 5)
	for name, pid := range pids {
		assert.True(t, testcluster.ProcessAlive(pid), "%s runs", name)
	}
	require.NoError(t, second.Stop())
	for name, pid := range pids {
		assert.False(t, testcluster.ProcessAlive(pid), "%s (pid %d) stopped", name, pid)
	}
	assert.NoDirExists(t, second.Dir)
	_, err = cluster.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	assert.NoError(t, err, "the shared cluster is untouched")
}

// TestComponentsDieWithAPanickingTest runs a test binary that starts a cluster
// and panics; its components must not outlive it.
func TestComponentsDieWithAPanickingTest(t *testing.T) {
	dir := t.TempDir()
	pidFile := dir + "/pids.json"
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TESTCLUSTER_CHILD=panic", "TESTCLUSTER_PIDS="+pidFile, "TESTCLUSTER_DIR="+dir+"/cluster")
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "the child panics")
	require.Contains(t, string(out), "deliberate panic", string(out))
	b, err := os.ReadFile(pidFile)
	require.NoError(t, err, string(out))
	var pids map[string]int
	require.NoError(t, json.Unmarshal(b, &pids))
	require.Len(t, pids, 5)
	require.NoError(t, wait.PollUntilContextTimeout(ctxFor(t, 15*time.Second), 100*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		for _, pid := range pids {
			if testcluster.ProcessAlive(pid) {
				return false, nil
			}
		}
		return true, nil
	}), "components outlived the panicking test binary: %v", pids)
}

func panicChild() {
	c, err := testcluster.New(context.Background(), testcluster.Options{Nodes: 1, Dir: os.Getenv("TESTCLUSTER_DIR")})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	b, _ := json.Marshal(c.PIDs())
	if err := os.WriteFile(os.Getenv("TESTCLUSTER_PIDS"), b, 0o644); err != nil {
		os.Exit(4)
	}
	panic("deliberate panic with a cluster running")
}

// TestExampleManifestsApply: examples/kubernetes (what make demo applies and
// users copy) is accepted by a real API server and the Deployment becomes available.
func TestExampleManifestsApply(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	root, err := testcluster.RepoRoot()
	require.NoError(t, err)
	manifests, err := testcluster.ExampleManifests(root)
	require.NoError(t, err)
	require.NoError(t, cluster.Apply(ctx, manifests, ""))
	d := waitDeployment(t, ctx, cluster.Client, "erlmcp", "erlmcp", "the example Deployment", available(3))
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.0.0", d.Spec.Template.Spec.Containers[0].Image)
	for _, name := range []string{"erlmcp", "erlmcp-headless"} {
		_, err := cluster.Client.CoreV1().Services("erlmcp").Get(ctx, name, metav1.GetOptions{})
		assert.NoError(t, err, "service %s", name)
	}
	_, err = cluster.Client.PolicyV1().PodDisruptionBudgets("erlmcp").Get(ctx, "erlmcp", metav1.GetOptions{})
	assert.NoError(t, err)
	_, err = cluster.Client.AutoscalingV2().HorizontalPodAutoscalers("erlmcp").Get(ctx, "erlmcp", metav1.GetOptions{})
	assert.NoError(t, err)
	_, err = cluster.Client.NetworkingV1().Ingresses("erlmcp").Get(ctx, "erlmcp", metav1.GetOptions{})
	assert.NoError(t, err)
}

// sample is one state of a pod seen by a watch, at its time since the test
// created the pod.
type sample struct {
	at  time.Duration
	pod *corev1.Pod
}

// simPod is a one-container pod running image.
func simPod(name, image string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "erlmcp", Image: image}}}}
}

// followPod creates pod in ns and records every state of it until done
// holds for the last one; times count from just before the create.
func followPod(t *testing.T, ctx context.Context, ns string, pod *corev1.Pod, done func(s sample) bool) []sample {
	t.Helper()
	start := time.Now()
	created, err := cluster.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	return watchPod(t, ctx, created, start, done)
}

// watchPod records every state of pod from its resource version on until
// done holds for the last one.
func watchPod(t *testing.T, ctx context.Context, pod *corev1.Pod, start time.Time, done func(s sample) bool) []sample {
	t.Helper()
	var seen []sample
	rv := pod.ResourceVersion
	for ctx.Err() == nil {
		w, err := cluster.Client.CoreV1().Pods(pod.Namespace).Watch(ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("metadata.name", pod.Name).String(), ResourceVersion: rv})
		require.NoError(t, err)
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			rv = p.ResourceVersion
			s := sample{at: time.Since(start), pod: p}
			seen = append(seen, s)
			if done(s) {
				w.Stop()
				return seen
			}
		}
		w.Stop() // the server ended the watch: go on from the last version seen
	}
	last := "none"
	if len(seen) > 0 {
		b, _ := json.Marshal(seen[len(seen)-1].pod.Status)
		last = string(b)
	}
	require.FailNow(t, "pod never reached the awaited state", "pod %s/%s: %v; last status %s", pod.Namespace, pod.Name, ctx.Err(), last)
	return nil
}

func firstSample(seen []sample, cond func(*corev1.Pod) bool) (sample, bool) {
	for _, s := range seen {
		if cond(s.pod) {
			return s, true
		}
	}
	return sample{}, false
}

func restartCount(p *corev1.Pod) int32 {
	if cs := containerStatus(p, "erlmcp"); cs != nil {
		return cs.RestartCount
	}
	return 0
}

func waitingMessage(p *corev1.Pod) string {
	if cs := containerStatus(p, "erlmcp"); cs != nil && cs.State.Waiting != nil {
		return cs.State.Waiting.Message
	}
	return ""
}

// transitions lists the waiting reasons of the erlmcp container in order,
// each with the first sample that showed it.
func transitions(seen []sample) (reasons []string, at []sample) {
	for _, s := range seen {
		r := containerWaiting(s.pod, "erlmcp")
		if r != "" && (len(reasons) == 0 || reasons[len(reasons)-1] != r) {
			reasons = append(reasons, r)
			at = append(at, s)
		}
	}
	return reasons, at
}

func podIdentity(p *corev1.Pod) string { return fmt.Sprintf("%s_%s(%s)", p.Name, p.Namespace, p.UID) }

// within asserts that d is in [lo, hi]: generous windows around the
// kubelet's timings, never exact ones.
func within(t *testing.T, d, lo, hi time.Duration, what string) {
	t.Helper()
	assert.True(t, d >= lo && d <= hi, "%s after %s, want between %s and %s", what, d.Round(time.Millisecond), lo, hi)
}

// countEvents counts the pod's events of reason whose message is message,
// waiting up to 10 s for atLeast of them (kwok records an event just
// after the status change it goes with).
func countEvents(t *testing.T, ctx context.Context, ns, pod, reason, message string, atLeast int) (int, []string) {
	t.Helper()
	n := 0
	var all []string
	_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		evs, err := cluster.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod})
		if err != nil {
			return false, nil
		}
		n, all = 0, all[:0]
		for _, e := range evs.Items {
			all = append(all, e.Type+" "+e.Reason+": "+e.Message)
			if e.Reason == reason && e.Message == message {
				n++
			}
		}
		return n >= atLeast, nil
	})
	return n, all
}

const (
	notFoundFmt = "rpc error: code = NotFound desc = failed to pull and unpack image %q: failed to resolve reference %q: %s: not found"
	rateLimited = ": 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit."
)

// rateLimitPrefix is how containerd's 429 error for ghcr.io/acme/erlmcp images begins.
func rateLimitPrefix(image string) string {
	return fmt.Sprintf("rpc error: code = Unknown desc = failed to pull and unpack image %q: failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/acme/erlmcp/manifests/sha256:", image)
}

// TestSimulatedKubelet checks the timings and messages of the kubelet that
// stages.yaml plays, tag by tag, and the helpers that play the rest by hand
// (AgePods, AddNode, ScaleUpEvent): what a rollout verdict must detect, and
// what it must not mistake for a failure.
func TestSimulatedKubelet(t *testing.T) {
	ctx := ctxFor(t, 3*time.Minute)
	began := time.Now()
	t.Cleanup(func() { t.Logf("simulator cases took %s in all", time.Since(began).Round(time.Millisecond)) })
	namespace := func(t *testing.T, name string) string {
		require.NoError(t, cluster.EnsureNamespace(ctx, name))
		return name
	}

	t.Run("fault-crashloop backs off 10s, 20s, 40s", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, "sim-crashloop")
		seen := followPod(t, ctx, ns, simPod("crashloop", "ghcr.io/acme/erlmcp:1.2.0-fault-crashloop"), func(s sample) bool { return restartCount(s.pod) >= 3 })
		id := podIdentity(seen[len(seen)-1].pod)
		var finished []time.Time
		for n, want := range map[int32]struct {
			lo, hi  time.Duration
			backoff string
		}{1: {0, 5 * time.Second, "10s"}, 2: {8 * time.Second, 16 * time.Second, "20s"}, 3: {25 * time.Second, 40 * time.Second, "40s"}} {
			s, ok := firstSample(seen, func(p *corev1.Pod) bool { return restartCount(p) == n })
			require.True(t, ok, "restart count %d never seen (it must rise one by one)", n)
			within(t, s.at, want.lo, want.hi, fmt.Sprintf("restart count %d", n))
			assert.Equal(t, "back-off "+want.backoff+" restarting failed container=erlmcp pod="+id, waitingMessage(s.pod), "restart %d", n)
			assert.Equal(t, "CrashLoopBackOff", containerWaiting(s.pod, "erlmcp"))
			last := containerStatus(s.pod, "erlmcp").LastTerminationState.Terminated
			require.NotNil(t, last)
			assert.Equal(t, int32(1), last.ExitCode)
			assert.Equal(t, "Error", last.Reason)
			finished = append(finished, last.FinishedAt.Time)
			t.Logf("restart count %d after %s: %s", n, s.at.Round(time.Millisecond), waitingMessage(s.pod))
		}
		for _, s := range seen {
			assert.False(t, podReady(s.pod), "never Ready (after %s)", s.at)
			if restartCount(s.pod) > 0 {
				assert.Equal(t, corev1.PodRunning, s.pod.Status.Phase, "a crash-looping pod is Running")
			}
		}
		slices.SortFunc(finished, func(a, b time.Time) int { return a.Compare(b) })
		assert.GreaterOrEqual(t, finished[1].Sub(finished[0]), 8*time.Second, "each restart renews lastState.terminated.finishedAt")
		assert.GreaterOrEqual(t, finished[2].Sub(finished[1]), 18*time.Second)
		n, all := countEvents(t, ctx, ns, "crashloop", "BackOff", "Back-off restarting failed container erlmcp in pod "+id, 3)
		assert.GreaterOrEqual(t, n, 3, "a BackOff event per crash; events: %v", all)
	})

	t.Run("fault-crashloop back-off stops doubling at 5m0s", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, "sim-crashcap")
		seen := followPod(t, ctx, ns, simPod("crashcap", "ghcr.io/acme/erlmcp:1.2.0-fault-crashloop"), func(s sample) bool { return restartCount(s.pod) >= 1 })
		// Play a pod that has crashed 6 times, the last 290 s ago: its back-off
		// is 5m0s (not 10 s * 2^5 = 5m20s), so it restarts in about 10 s.
		var updated *corev1.Pod
		require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
			p, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, "crashcap", metav1.GetOptions{})
			if err != nil {
				return err
			}
			cs := containerStatus(p, "erlmcp")
			cs.RestartCount = 6
			cs.LastTerminationState.Terminated.FinishedAt = metav1.NewTime(time.Now().Add(-290 * time.Second))
			cs.State.Waiting.Message = "back-off 5m0s restarting failed container=erlmcp pod=" + podIdentity(p)
			updated, err = cluster.Client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
			return err
		}))
		start := time.Now()
		seen = watchPod(t, ctx, updated, start, func(s sample) bool { return restartCount(s.pod) >= 7 })
		s := seen[len(seen)-1]
		within(t, s.at, 5*time.Second, 20*time.Second, "restart 7 (uncapped it would come after 30 s)")
		assert.Equal(t, int32(7), restartCount(s.pod))
		assert.Equal(t, "back-off 5m0s restarting failed container=erlmcp pod="+podIdentity(s.pod), waitingMessage(s.pod))
		assert.WithinDuration(t, time.Now(), containerStatus(s.pod, "erlmcp").LastTerminationState.Terminated.FinishedAt.Time, 5*time.Second)
		t.Logf("restart 7 came %s after the status said 6 restarts, the last 290 s ago", s.at.Round(time.Millisecond))
	})

	t.Run("fault-oom backs off like a crash loop", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, "sim-oom")
		seen := followPod(t, ctx, ns, simPod("oom", "ghcr.io/acme/erlmcp:1.2.0-fault-oom"), func(s sample) bool { return restartCount(s.pod) >= 2 })
		for n, backoff := range map[int32]string{1: "10s", 2: "20s"} {
			s, ok := firstSample(seen, func(p *corev1.Pod) bool { return restartCount(p) == n })
			require.True(t, ok, "restart count %d", n)
			cs := containerStatus(s.pod, "erlmcp")
			require.NotNil(t, cs.LastTerminationState.Terminated)
			assert.Equal(t, "OOMKilled", cs.LastTerminationState.Terminated.Reason)
			assert.Equal(t, int32(137), cs.LastTerminationState.Terminated.ExitCode)
			assert.Equal(t, "back-off "+backoff+" restarting failed container=erlmcp pod="+podIdentity(s.pod), waitingMessage(s.pod))
			if n == 2 {
				within(t, s.at, 8*time.Second, 16*time.Second, "restart count 2")
				t.Logf("fault-oom restart count 2 after %s", s.at.Round(time.Millisecond))
			}
		}
		for _, s := range seen {
			assert.False(t, podReady(s.pod), "never Ready")
		}
	})

	for _, tc := range []struct {
		tag, reason string
		exit        int32
	}{{"crashonce", "Error", 1}, {"oomonce", "OOMKilled", 137}} {
		t.Run(tc.tag+" is Ready after one 10s back-off", func(t *testing.T) {
			t.Parallel()
			ns := namespace(t, "sim-"+tc.tag)
			seen := followPod(t, ctx, ns, simPod(tc.tag, "ghcr.io/acme/erlmcp:1.2.0-"+tc.tag), func(s sample) bool { return podReady(s.pod) })
			crashed, ok := firstSample(seen, func(p *corev1.Pod) bool { return containerWaiting(p, "erlmcp") == "CrashLoopBackOff" })
			require.True(t, ok, "it crashes first")
			assert.Equal(t, int32(1), restartCount(crashed.pod))
			assert.Equal(t, "back-off 10s restarting failed container=erlmcp pod="+podIdentity(crashed.pod), waitingMessage(crashed.pod))
			assert.False(t, podReady(crashed.pod))
			ready := seen[len(seen)-1]
			within(t, ready.at, 8*time.Second, 16*time.Second, tc.tag+" Ready")
			cs := containerStatus(ready.pod, "erlmcp")
			assert.Equal(t, int32(1), cs.RestartCount)
			assert.True(t, cs.Ready)
			assert.NotNil(t, cs.State.Running)
			require.NotNil(t, cs.LastTerminationState.Terminated, "the last state is kept")
			assert.Equal(t, tc.reason, cs.LastTerminationState.Terminated.Reason)
			assert.Equal(t, tc.exit, cs.LastTerminationState.Terminated.ExitCode)
			t.Logf("%s Ready after %s", tc.tag, ready.at.Round(time.Millisecond))
			time.Sleep(3 * time.Second) // an observation window: it stays Ready and does not crash again
			p, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, tc.tag, metav1.GetOptions{})
			require.NoError(t, err)
			assert.True(t, podReady(p))
			assert.Equal(t, int32(1), restartCount(p))
		})
	}

	for _, tc := range []struct {
		tag  string
		want func(t *testing.T, image, msg string)
	}{
		{"fault-imagepull", func(t *testing.T, image, msg string) {
			assert.Equal(t, fmt.Sprintf(notFoundFmt, image, image, image), msg)
		}},
		{"fault-ratelimit", func(t *testing.T, image, msg string) {
			assert.True(t, strings.HasPrefix(msg, rateLimitPrefix(image)), msg)
			assert.Contains(t, msg, rateLimited)
		}},
	} {
		t.Run(tc.tag+" pulls again after 10s", func(t *testing.T) {
			t.Parallel()
			ns := namespace(t, "sim-"+tc.tag)
			image := "ghcr.io/acme/erlmcp:1.2.0-" + tc.tag
			var sofar []sample
			seen := followPod(t, ctx, ns, simPod("pull", image), func(s sample) bool {
				sofar = append(sofar, s)
				reasons, _ := transitions(sofar)
				return len(reasons) == 4
			})
			reasons, at := transitions(seen)
			require.Equal(t, []string{"ErrImagePull", "ImagePullBackOff", "ErrImagePull", "ImagePullBackOff"}, reasons)
			within(t, at[0].at, 0, 5*time.Second, "first ErrImagePull")
			within(t, at[2].at, 8*time.Second, 15*time.Second, "second ErrImagePull")
			first, again := waitingMessage(at[0].pod), waitingMessage(at[2].pod)
			tc.want(t, image, first)
			assert.Equal(t, first, again, "every pull fails the same way")
			assert.Equal(t, fmt.Sprintf("Back-off pulling image %q: ErrImagePull: %s", image, first), waitingMessage(at[1].pod))
			for _, s := range seen {
				assert.Equal(t, corev1.PodPending, s.pod.Status.Phase)
				assert.False(t, podReady(s.pod))
			}
			n, all := countEvents(t, ctx, ns, "pull", "Failed", fmt.Sprintf("Failed to pull image %q: %s", image, first), 2)
			assert.Equal(t, 2, n, "a Failed event per pull; events: %v", all)
			n, all = countEvents(t, ctx, ns, "pull", "BackOff", fmt.Sprintf("Back-off pulling image %q", image), 2)
			assert.GreaterOrEqual(t, n, 2, "a BackOff event per back-off; events: %v", all)
			t.Logf("%s: ErrImagePull at %s and %s", tc.tag, at[0].at.Round(time.Millisecond), at[2].at.Round(time.Millisecond))
		})
	}

	for _, tc := range []struct {
		n       int
		reasons []string
	}{
		{8, []string{"ErrImagePull", "ImagePullBackOff"}},
		{14, []string{"ErrImagePull", "ImagePullBackOff", "ErrImagePull", "ImagePullBackOff"}},
	} {
		tag := fmt.Sprintf("pull429-%ds", tc.n)
		t.Run(tag+" is rate limited, then Ready", func(t *testing.T) {
			t.Parallel()
			ns := namespace(t, "sim-"+tag)
			image := "ghcr.io/acme/erlmcp:1.2.0-" + tag
			seen := followPod(t, ctx, ns, simPod("pull", image), func(s sample) bool { return podReady(s.pod) })
			reasons, at := transitions(seen)
			assert.Equal(t, tc.reasons, reasons)
			msg := waitingMessage(at[0].pod)
			assert.True(t, strings.HasPrefix(msg, rateLimitPrefix(image)), msg)
			assert.Contains(t, msg, rateLimited)
			if len(at) > 2 {
				within(t, at[2].at, 8*time.Second, 13*time.Second, "second ErrImagePull")
				assert.Equal(t, msg, waitingMessage(at[2].pod))
			}
			ready := seen[len(seen)-1]
			n := time.Duration(tc.n) * time.Second
			within(t, ready.at, n-time.Second, n+4*time.Second, "Ready")
			assert.Equal(t, corev1.PodRunning, ready.pod.Status.Phase)
			cs := containerStatus(ready.pod, "erlmcp")
			assert.True(t, cs.Ready)
			assert.NotNil(t, cs.State.Running)
			assert.Equal(t, int32(0), cs.RestartCount)
			assert.NotEmpty(t, ready.pod.Status.PodIP)
			assertEvent(t, ctx, cluster.Client, ns, "pull", "Pulled", fmt.Sprintf("Successfully pulled image %q", image))
			t.Logf("%s Ready after %s", tag, ready.at.Round(time.Millisecond))
		})
	}

	t.Run("AgePods sticks", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, "sim-aged")
		require.NoError(t, cluster.CreateAvailable(ctx, ns, testcluster.Deployment("aged", "ghcr.io/acme/erlmcp:1.0.0", 2)))
		require.NoError(t, cluster.AgePods(ctx, ns, "app=aged", 5, true))
		check := func(when string) {
			pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=aged"})
			require.NoError(t, err)
			require.Len(t, pods.Items, 2)
			for _, p := range pods.Items {
				cs := containerStatus(&p, "erlmcp")
				assert.Equal(t, int32(5), cs.RestartCount, "%s: %s", when, p.Name)
				require.NotNil(t, cs.LastTerminationState.Terminated, "%s: %s", when, p.Name)
				assert.Equal(t, "OOMKilled", cs.LastTerminationState.Terminated.Reason)
				assert.Equal(t, int32(137), cs.LastTerminationState.Terminated.ExitCode)
				assert.WithinDuration(t, time.Now().Add(-time.Hour), cs.LastTerminationState.Terminated.FinishedAt.Time, time.Minute)
				assert.True(t, podReady(&p), "%s: %s still Ready", when, p.Name)
			}
		}
		check("at once")
		time.Sleep(5 * time.Second) // an observation window: kwok must not put the pods back
		check("5 s later")
		require.NoError(t, cluster.WaitAvailable(ctx, ns, "aged"))
		assert.Error(t, cluster.AgePods(ctx, ns, "app=nothing", 1, false), "no Running pod matches")
		assert.Error(t, cluster.AgePods(ctx, ns, "app=aged", 0, true), "an OOM kill is a restart")
	})

	t.Run("AddNode makes room for a pending pod", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t, "sim-scaleup")
		pod := simPod("big", "ghcr.io/acme/erlmcp:1.0.0")
		pod.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("40")}
		_, err := cluster.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		require.NoError(t, err)
		t.Cleanup(func() {
			ctx := context.Background()
			_ = cluster.Client.CoreV1().Pods(ns).Delete(ctx, "big", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))})
			_ = cluster.Client.CoreV1().Nodes().Delete(ctx, "kwok-node-big", metav1.DeleteOptions{})
		})
		pending := waitPod(t, ctx, cluster.Client, ns, "", "an unschedulable pod", func(p *corev1.Pod) bool {
			c := podCondition(p, corev1.PodScheduled)
			return p.Name == "big" && c != nil && c.Status == corev1.ConditionFalse && c.Reason == "Unschedulable"
		})
		assert.Contains(t, podCondition(pending, corev1.PodScheduled).Message, "Insufficient cpu")

		require.NoError(t, cluster.ScaleUpEvent(ctx, pending, testcluster.ReasonTriggeredScaleUp, ""))
		require.NoError(t, cluster.ScaleUpEvent(ctx, pending, testcluster.ReasonNominated, ""))
		assert.Error(t, cluster.ScaleUpEvent(ctx, pending, "Whatever", ""), "no usual message to guess")
		evs, err := cluster.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=big"})
		require.NoError(t, err)
		got := map[string]string{}
		for _, e := range evs.Items {
			if e.Type == corev1.EventTypeNormal {
				got[e.Reason] = e.Source.Component + ": " + e.Message
			}
		}
		assert.Equal(t, "cluster-autoscaler: pod triggered scale-up: [{node-group 1->2 (max: 5)}]", got["TriggeredScaleUp"])
		assert.Equal(t, "karpenter: Pod should schedule on: nodeclaim/default-x", got["Nominated"])

		start := time.Now()
		require.NoError(t, cluster.AddNode(ctx, "kwok-node-big", "64"))
		p := waitPod(t, ctx, cluster.Client, ns, "", "the pod Ready on the new node", func(p *corev1.Pod) bool { return p.Name == "big" && podReady(p) })
		assert.Equal(t, "kwok-node-big", p.Spec.NodeName)
		t.Logf("the pending pod was Ready %s after AddNode began", time.Since(start).Round(time.Millisecond))
		for name, want := range map[string]string{"kwok-node-big": "64", "kwok-node-0": "32"} {
			nd, err := cluster.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, want, nd.Status.Allocatable.Cpu().String(), name)
			assert.Equal(t, want, nd.Status.Capacity.Cpu().String(), name)
		}
	})
}

// TestResourceQuotaBlocksSurgePod: with the resourcequota controller running,
// a quota of 3 pods leaves no room for the surge pod of a 3-replica rollout;
// the ReplicaSet reports it and the old pods keep serving.
func TestResourceQuotaBlocksSurgePod(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	ns := "quota"
	require.NoError(t, cluster.EnsureNamespace(ctx, ns))
	c := cluster.Client
	_, err := c.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "pods"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("3")}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		q, err := c.CoreV1().ResourceQuotas(ns).Get(ctx, "pods", metav1.GetOptions{})
		return err == nil && q.Status.Hard.Pods().String() == "3", nil
	}), "the resourcequota controller fills the quota's status")
	require.NoError(t, cluster.CreateAvailable(ctx, ns, testcluster.Deployment("erlmcp", "ghcr.io/acme/erlmcp:1.0.0", 3)))

	patch := `{"spec":{"template":{"spec":{"containers":[{"name":"erlmcp","image":"ghcr.io/acme/erlmcp:1.1.0"}]}}}}`
	_, err = c.AppsV1().Deployments(ns).Patch(ctx, "erlmcp", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	require.NoError(t, err)
	var rs *appsv1.ReplicaSet
	require.NoError(t, wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		rss, err := c.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=erlmcp"})
		if err != nil {
			return false, nil
		}
		for i := range rss.Items {
			r := &rss.Items[i]
			if r.Spec.Template.Spec.Containers[0].Image != "ghcr.io/acme/erlmcp:1.1.0" {
				continue
			}
			for _, cond := range r.Status.Conditions {
				if cond.Type == appsv1.ReplicaSetReplicaFailure && cond.Status == corev1.ConditionTrue {
					rs = r
					return true, nil
				}
			}
		}
		return false, nil
	}), "the new ReplicaSet reports a ReplicaFailure")
	var failure appsv1.ReplicaSetCondition
	for _, cond := range rs.Status.Conditions {
		if cond.Type == appsv1.ReplicaSetReplicaFailure {
			failure = cond
		}
	}
	assert.Equal(t, "FailedCreate", failure.Reason)
	assert.Contains(t, failure.Message, "exceeded quota: pods, requested: pods=1, used: pods=3, limited: pods=3")
	assert.Equal(t, int32(0), rs.Status.Replicas, "the surge pod was never created")
	assertEvent(t, ctx, c, ns, rs.Name, "FailedCreate", "exceeded quota")
	d, err := c.AppsV1().Deployments(ns).Get(ctx, "erlmcp", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(3), d.Status.AvailableReplicas, "the old pods keep serving")
}
