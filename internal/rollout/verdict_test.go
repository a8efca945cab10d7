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
