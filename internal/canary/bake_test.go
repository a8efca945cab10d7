package canary_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/org/erlmcp-deploy/internal/canary"
	"github.com/org/erlmcp-deploy/internal/rollout"
)

func bakePod(name string, ready bool, restarts int32, mod ...func(*corev1.Pod)) *corev1.Pod {
	cond := corev1.ConditionFalse
	if ready {
		cond = corev1.ConditionTrue
	}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name)},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: cond}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "erlmcp", Ready: ready, RestartCount: restarts}}}}
	for _, m := range mod {
		m(p)
	}
	return p
}

func TestPureUnsteady(t *testing.T) {
	now := time.Now()
	crashed := func(p *corev1.Pod) {
		p.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}
		p.Status.ContainerStatuses[0].State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}
	}
	terminating := func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: now} }
	pullFail := func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodPending
		p.Status.ContainerStatuses[0].State.Waiting = &corev1.ContainerStateWaiting{Reason: "ErrImagePull",
			Message: `failed to resolve reference "ghcr.io/acme/erlmcp:9": ghcr.io/acme/erlmcp:9: not found`}
	}
	for _, tc := range []struct {
		name string
		pods []*corev1.Pod
		seen map[types.UID]int32
		want string
		pod  string
	}{
		{name: "steady", pods: []*corev1.Pod{bakePod("a", true, 0), bakePod("b", true, 1)}, seen: map[types.UID]int32{"a": 0, "b": 1}},
		{name: "a restart since the verdict", pods: []*corev1.Pod{bakePod("a", true, 0), bakePod("b", false, 2, crashed)}, seen: map[types.UID]int32{"a": 0, "b": 1},
			want: "canary pod b restarted during its bake (1 restart(s) since the step was verified; container erlmcp exited 1 (Error))", pod: "b"},
		{name: "no longer Ready", pods: []*corev1.Pod{bakePod("a", false, 0)}, seen: map[types.UID]int32{"a": 0},
			want: "canary pod a stopped being Ready during its bake", pod: "a"},
		{name: "a terminating pod is not judged", pods: []*corev1.Pod{bakePod("a", false, 3, terminating)}, seen: map[types.UID]int32{"a": 0}},
		{name: "a replacement still starting is tolerated", pods: []*corev1.Pod{bakePod("c", false, 0)}, seen: map[types.UID]int32{"a": 0}},
		{name: "a doomed replacement", pods: []*corev1.Pod{bakePod("c", false, 0, pullFail)}, seen: map[types.UID]int32{},
			want: "replacement pod c of the canary: ", pod: "c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, pod := canary.Unsteady(tc.pods, tc.seen, now, rollout.Options{})
			if tc.want == "" {
				assert.Empty(t, got)
				return
			}
			assert.Contains(t, got, tc.want)
			assert.Equal(t, tc.pod, pod)
		})
	}
}
