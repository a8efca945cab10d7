package rollout_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/org/erlmcp-deploy/internal/rollout"
)

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func dep(mut func(*appsv1.Deployment)) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "erlmcp", Generation: 2},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(int32(3))},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3},
	}
	if mut != nil {
		mut(d)
	}
	return d
}

func pod(name string, mut func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "erlmcp", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
		}}},
	}
	if mut != nil {
		mut(p)
	}
	return p
}

func waiting(reason, msg string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodPending
		p.Status.ContainerStatuses[0].Ready = false
		p.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
	}
}

func TestDeploymentStatusFollowsKubectl(t *testing.T) {
	tests := []struct {
		name    string
		d       *appsv1.Deployment
		msg     string
		done    bool
		wantErr string
	}{
		{"not observed", dep(func(d *appsv1.Deployment) { d.Status.ObservedGeneration = 1 }), "waiting for deployment spec update to be observed", false, ""},
		{"deadline", dep(func(d *appsv1.Deployment) {
			d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Reason: "ProgressDeadlineExceeded"}}
		}), "", false, `deployment "erlmcp" exceeded its progress deadline`},
		{"updating", dep(func(d *appsv1.Deployment) { d.Status.UpdatedReplicas = 1 }), "1 out of 3 new replicas have been updated", false, ""},
		{"old terminating", dep(func(d *appsv1.Deployment) { d.Status.Replicas = 4 }), "1 old replicas are pending termination", false, ""},
		{"not available", dep(func(d *appsv1.Deployment) { d.Status.AvailableReplicas = 2 }), "2 of 3 updated replicas are available", false, ""},
		{"done", dep(nil), `deployment "erlmcp" successfully rolled out`, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg, done, err := rollout.DeploymentStatus(tc.d)
			if tc.wantErr != "" {
				assert.EqualError(t, err, tc.wantErr)
				return
			}
			assert.NoError(t, err)
			assert.Equal(t, tc.msg, msg)
			assert.Equal(t, tc.done, done)
		})
	}
}

func TestDoomedPod(t *testing.T) {
	ff := rollout.Options{FailFast: true}
	tests := []struct {
		name   string
		pod    *corev1.Pod
		reason string // "" = not doomed
	}{
		{"running ready", pod("p", nil), ""},
		{"container creating", pod("p", waiting("ContainerCreating", "")), ""},
		{"image pull backoff", pod("p", waiting("ImagePullBackOff", `Back-off pulling image "x:1"`)), "ImagePullBackOff"},
		{"err image pull not found", pod("p", waiting("ErrImagePull", "rpc error: code = NotFound desc = failed to pull and unpack image: not found")), "ErrImagePull"},
		{"err image pull unauthorized", pod("p", waiting("ErrImagePull", "pull access denied, repository does not exist or may require authorization")), "ErrImagePull"},
		{"err image pull transient", pod("p", waiting("ErrImagePull", "dial tcp 10.0.0.1:443: i/o timeout")), ""},
		{"invalid image name", pod("p", waiting("InvalidImageName", `couldn't parse image name "X:1"`)), "InvalidImageName"},
		{"crash loop", pod("p", waiting("CrashLoopBackOff", "back-off 10s restarting failed container")), "CrashLoopBackOff"},
		{"config error", pod("p", waiting("CreateContainerConfigError", `secret "s" not found`)), "CreateContainerConfigError"},
		{"config cache lag", pod("p", waiting("CreateContainerConfigError", "failed to sync configmap cache: timed out waiting for the condition")), ""},
		{"create container error", pod("p", waiting("CreateContainerError", "context deadline exceeded")), "CreateContainerError"},
		{"run container error", pod("p", waiting("RunContainerError", "exec: not found")), "RunContainerError"},
		{"oom now", pod("p", func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}}
		}), "OOMKilled"},
		{"oom before, running again", pod("p", func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].RestartCount = 1
			p.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}}
		}), "OOMKilled"},
		{"cannot run", pod("p", func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "ContainerCannotRun", ExitCode: 127}}
		}), "ContainerCannotRun"},
		{"cannot run exit 128 is transient", pod("p", func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "ContainerCannotRun", ExitCode: 128}}
		}), ""},
		{"restarts at threshold", pod("p", func(p *corev1.Pod) { p.Status.ContainerStatuses[0].RestartCount = 3 }), ""},
		{"restarts over threshold", pod("p", func(p *corev1.Pod) { p.Status.ContainerStatuses[0].RestartCount = 4 }), rollout.ReasonRestarts},
		{"failed phase", pod("p", func(p *corev1.Pod) { p.Status.Phase, p.Status.Reason = corev1.PodFailed, "DeadlineExceeded" }), "DeadlineExceeded"},
		{"evicted", pod("p", func(p *corev1.Pod) { p.Status.Phase, p.Status.Reason = corev1.PodFailed, "Evicted" }), ""},
		{"preempting", pod("p", func(p *corev1.Pod) { p.Status.Phase, p.Status.Reason = corev1.PodFailed, "Preempting" }), ""},
		{"init container crash", pod("p", func(p *corev1.Pod) {
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "migrate", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
		}), "CrashLoopBackOff"},
		{"unschedulable within grace", pod("p", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Status.ContainerStatuses = nil
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", LastTransitionTime: metav1.NewTime(now.Add(-59 * time.Second))}}
		}), ""},
		{"unschedulable beyond grace", pod("p", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Status.ContainerStatuses = nil
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes: insufficient memory", LastTransitionTime: metav1.NewTime(now.Add(-61 * time.Second))}}
		}), rollout.ReasonUnschedulable},
		{"terminating pod is ignored", pod("p", func(p *corev1.Pod) {
			waiting("CrashLoopBackOff", "")(p)
			p.DeletionTimestamp = &metav1.Time{Time: now}
		}), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := rollout.DoomedPod(tc.pod, now, ff)
			if tc.reason == "" {
				assert.Nil(t, p)
				return
			}
			if assert.NotNil(t, p) {
				assert.Equal(t, tc.reason, p.Reason)
				assert.Equal(t, "p", p.Pod)
			}
		})
	}
}

func TestCrashLoopReportsLastExit(t *testing.T) {
	p := rollout.DoomedPod(pod("erlmcp-1", func(p *corev1.Pod) {
		waiting("CrashLoopBackOff", "back-off 20s restarting failed container=erlmcp")(p)
		p.Status.ContainerStatuses[0].RestartCount = 2
		p.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1}}
	}), now, rollout.Options{})
	if assert.NotNil(t, p) {
		assert.Equal(t, "erlmcp-1/erlmcp: CrashLoopBackOff: back-off 20s restarting failed container=erlmcp (last exit 1, Error)", p.String())
		assert.Equal(t, int32(1), *p.ExitCode)
		assert.Equal(t, int32(2), p.Restarts)
	}
}

func TestEvaluate(t *testing.T) {
	crash := pod("b", waiting("CrashLoopBackOff", "back-off"))
	pull := pod("a", waiting("ImagePullBackOff", "Back-off pulling image"))
	rsFailed := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "erlmcp-abc"}, Status: appsv1.ReplicaSetStatus{Conditions: []appsv1.ReplicaSetCondition{{
		Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate", Message: `pods "erlmcp-abc-" is forbidden: exceeded quota`}}}}
	rsUnavailable := rsFailed.DeepCopy()
	rsUnavailable.Status.Conditions[0].Message = "rpc error: code = Unavailable desc = error reading from server: connection reset by peer"
	progressing := dep(func(d *appsv1.Deployment) {
		d.Status.UpdatedReplicas, d.Status.AvailableReplicas, d.Status.Replicas = 1, 3, 4
	})
	tests := []struct {
		name    string
		s       rollout.Snapshot
		opts    rollout.Options
		phase   rollout.Phase
		reason  string
		message string
	}{
		{"done", rollout.Snapshot{Deployment: dep(nil), MinGeneration: 2, Now: now}, rollout.Options{FailFast: true}, rollout.Succeeded, "", `deployment "erlmcp" successfully rolled out`},
		{"stale cache is not done", rollout.Snapshot{Deployment: dep(nil), MinGeneration: 3, Now: now}, rollout.Options{}, rollout.Progressing, "", "waiting for the change to be seen"},
		{"no deployment yet", rollout.Snapshot{Now: now}, rollout.Options{}, rollout.Progressing, "", "waiting for the Deployment"},
		{"progressing", rollout.Snapshot{Deployment: progressing, Now: now, Pods: []*corev1.Pod{pod("a", nil)}}, rollout.Options{FailFast: true}, rollout.Progressing, "", "1 out of 3 new replicas have been updated"},
		{"doomed pods, first by name", rollout.Snapshot{Deployment: progressing, Now: now, Pods: []*corev1.Pod{crash, pull}}, rollout.Options{FailFast: true},
			rollout.Failed, "ImagePullBackOff", "a/erlmcp: ImagePullBackOff: Back-off pulling image (and 1 more)"},
		{"doomed pods ignored without fail-fast", rollout.Snapshot{Deployment: progressing, Now: now, Pods: []*corev1.Pod{crash}}, rollout.Options{}, rollout.Progressing, "", "1 out of 3 new replicas have been updated"},
		{"replicaset cannot create pods", rollout.Snapshot{Deployment: progressing, Now: now, NewReplicaSet: rsFailed}, rollout.Options{FailFast: true},
			rollout.Failed, "FailedCreate", `replicaset/erlmcp-abc: FailedCreate: pods "erlmcp-abc-" is forbidden: exceeded quota`},
		{"replicaset create failed on an etcd blip: retried by the controller", rollout.Snapshot{Deployment: progressing, Now: now, NewReplicaSet: rsUnavailable},
			rollout.Options{FailFast: true}, rollout.Progressing, "", "1 out of 3 new replicas have been updated"},
		{"progress deadline", rollout.Snapshot{Deployment: dep(func(d *appsv1.Deployment) {
			d.Status.UpdatedReplicas = 1
			d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Reason: "ProgressDeadlineExceeded"}}
		}), Now: now}, rollout.Options{}, rollout.Failed, rollout.ReasonProgressDeadline, `deployment "erlmcp" exceeded its progress deadline`},
		{"timeout", rollout.Snapshot{Deployment: progressing, Now: now, Deadline: now}, rollout.Options{}, rollout.Failed, rollout.ReasonTimeout, "timed out: 1 out of 3 new replicas have been updated"},
		{"before the deadline", rollout.Snapshot{Deployment: progressing, Now: now, Deadline: now.Add(time.Millisecond)}, rollout.Options{}, rollout.Progressing, "", "1 out of 3 new replicas have been updated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := rollout.Evaluate(tc.s, tc.opts)
			assert.Equal(t, tc.phase, v.Phase)
			assert.Equal(t, tc.reason, v.Reason)
			assert.Equal(t, tc.message, v.Message)
		})
	}
}

func TestProgressString(t *testing.T) {
	assert.Equal(t, "2/3 updated, 1/3 available, 1 old pending termination",
		rollout.Progress{Desired: 3, Updated: 2, Available: 1, Total: 3}.String())
	assert.Equal(t, "3/3 updated, 3/3 available", rollout.Progress{Desired: 3, Updated: 3, Available: 3, Total: 3}.String())
	assert.Equal(t, "2/3 updated, 3/3 available (+1 surge), 2 old pending termination",
		rollout.Progress{Desired: 3, Updated: 2, Available: 4, Total: 4}.String())
}

func TestWithAPIHealth(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	failing := rollout.APIFailing{Since: now.Add(-42 * time.Second), Err: errors.New("etcdserver: request timed out")}
	progress := rollout.Progress{Desired: 3, Updated: 1, Available: 3, Total: 4}
	for _, tc := range []struct {
		name   string
		in     rollout.Verdict
		f      rollout.APIFailing
		reason string
		msg    string
	}{
		{"healthy API leaves the verdict", rollout.Verdict{Phase: rollout.Failed, Reason: rollout.ReasonTimeout, Message: "timed out: x"},
			rollout.APIFailing{}, rollout.ReasonTimeout, "timed out: x"},
		{"progress says the API is failing", rollout.Verdict{Phase: rollout.Progressing, Message: "waiting", Progress: progress},
			failing, "", "waiting (the API server is failing, retrying: etcdserver: request timed out)"},
		{"a timeout while failing is an unknown state", rollout.Verdict{Phase: rollout.Failed, Reason: rollout.ReasonTimeout, Message: "timed out: 1 of 3 updated replicas are available", Progress: progress},
			failing, rollout.ReasonAPIUnavailable,
			"the API server kept failing since 11:59:18 (etcdserver: request timed out): the rollout's state is unknown; when last seen: 1 of 3 updated replicas are available"},
		{"a pod's own failure stays", rollout.Verdict{Phase: rollout.Failed, Reason: "CrashLoopBackOff", Message: "pod x crashes"},
			failing, "CrashLoopBackOff", "pod x crashes"},
		{"success stays", rollout.Verdict{Phase: rollout.Succeeded, Message: "done"}, failing, "", "done"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := rollout.WithAPIHealth(tc.in, tc.f)
			assert.Equal(t, tc.reason, v.Reason)
			assert.Equal(t, tc.msg, v.Message)
			assert.Equal(t, tc.in.Phase, v.Phase)
			assert.Equal(t, tc.in.Progress, v.Progress)
		})
	}
}
