package testcluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
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
		o := observe(t, "plain", "ghcr.io/acme/erlmcp:1.0.0", func(o *observation) bool { return o.readyAt > 0 })
		assert.Less(t, o.readyAt, 10*time.Second)
		assert.Equal(t, corev1.PodRunning, o.pod.Status.Phase)
	})

	t.Run("fault-imagepull", func(t *testing.T) {
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
		assert.Contains(t, string(prev), `start failed: {bad_config,{missing_env,"ERLMCP_SECRET_KEY"}}`)
		cur, err := c.CoreV1().Pods(ns).GetLogs("crashloop", &corev1.PodLogOptions{Container: "erlmcp", TailLines: ptr.To(int64(1))}).DoRaw(ctx)
		require.NoError(t, err)
		assert.Equal(t, "[info] erlmcp_registry: 3 tools registered\n", string(cur))
	})

	t.Run("fault-configerror", func(t *testing.T) {
		o := observe(t, "configerror", "ghcr.io/acme/erlmcp:1.2.0-fault-configerror", func(o *observation) bool { return len(o.reasons) > 0 })
		assert.Equal(t, []string{"CreateContainerConfigError"}, o.reasons)
		assert.Equal(t, corev1.PodPending, o.pod.Status.Phase)
		assert.Contains(t, containerStatus(o.pod, "erlmcp").State.Waiting.Message, "not found")
	})

	t.Run("fault-oom", func(t *testing.T) {
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
		assert.NotNil(t, cs.State.Running, "restarted")
		assert.False(t, cs.Ready)
	})

	t.Run("fault-neverready", func(t *testing.T) {
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
		{"rbac", "apps", "deployments", "", "create", false},
		{"rbac", "apps", "deployments", "", "delete", false},
		{"rbac", "", "pods", "", "delete", false},
		{"rbac", "", "secrets", "", "get", false},
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
