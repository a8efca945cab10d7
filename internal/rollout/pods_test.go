package rollout_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/org/erlmcp-deploy/internal/rollout"
)

// Real message shapes (containerd/kubelet), GUIDE §9.
const (
	msgNotFound     = `rpc error: code = NotFound desc = failed to pull and unpack image "ghcr.io/acme/erlmcp:9.9.9": failed to resolve reference "ghcr.io/acme/erlmcp:9.9.9": ghcr.io/acme/erlmcp:9.9.9: not found`
	msgRateLimit    = `failed to pull and unpack image "docker.io/library/nginx:1.25.3": failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/nginx/manifests/sha256:abc: 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit`
	msgUnauthorized = `failed to pull and unpack image "ghcr.io/acme/private:1.0": failed to resolve reference "ghcr.io/acme/private:1.0": failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized`
	msgForbidden    = `failed to pull and unpack image "ghcr.io/acme/erlmcp:1.0": failed to resolve reference: unexpected status from HEAD request: 403 Forbidden`
	msgDenied       = `pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed`
	msgTimeout      = `failed to pull and unpack image "ghcr.io/acme/erlmcp:1.0": failed to do request: Head "https://ghcr.io/v2/acme/erlmcp/manifests/1.0": dial tcp 140.82.112.33:443: i/o timeout`
	msgTLS          = `failed to pull and unpack image "ghcr.io/acme/erlmcp:1.0": failed to do request: Head "https://ghcr.io/v2/": net/http: TLS handshake timeout`
	msgReset        = `failed to pull and unpack image "ghcr.io/acme/erlmcp:1.0": failed to copy: read tcp 10.0.0.5:41234->140.82.112.33:443: read: connection reset by peer`
	msgNoCPU        = `0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.`
)

var hourAgo = metav1.NewTime(now.Add(-time.Hour))

// crashing is a container that crashed: restarts, last exit, waiting CrashLoopBackOff, not ready.
func crashing(restarts int32, lastReason string, exit int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		cs := &p.Status.ContainerStatuses[0]
		cs.Ready, cs.RestartCount = false, restarts
		cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 10s restarting failed container=erlmcp pod=p"}}
		cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: lastReason, ExitCode: exit, FinishedAt: metav1.NewTime(now.Add(-2 * time.Second))}}
	}
}

// serving is a pod that has served for weeks: Ready, restarts and an OOM kill an hour ago.
func serving(restarts int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		cs := &p.Status.ContainerStatuses[0]
		cs.RestartCount = restarts
		cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137, FinishedAt: hourAgo}}
	}
}

func unschedulablePod(p *corev1.Pod) {
	p.Status.Phase = corev1.PodPending
	p.Status.ContainerStatuses = nil
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: msgNoCPU}}
}

func chain(muts ...func(*corev1.Pod)) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		for _, m := range muts {
			m(p)
		}
	}
}

// history is what the watch saw: the baseline (pods at watch start), then
// views of the pods at times since the start, then the judged pod at now.
type history struct {
	baseline []*corev1.Pod
	seen     time.Duration // the judged pod (its first form) was first seen this long before now
	earlier  *corev1.Pod   // an earlier form of the judged pod (e.g. ErrImagePull before ImagePullBackOff)
	scaleUp  [2]string     // an autoscaler event: reason, message
}

func (h history) memory(judged *corev1.Pod) *rollout.Memory {
	m := &rollout.Memory{}
	m.Baseline(now.Add(-time.Hour), h.baseline)
	first := judged
	if h.earlier != nil {
		first = h.earlier
	}
	m.Observe(now.Add(-h.seen), nil, []*corev1.Pod{first}, nil)
	if h.earlier != nil {
		m.RecordPull(h.earlier)
	}
	if h.scaleUp[0] != "" {
		m.SawScaleUp(judged.UID, h.scaleUp[0], h.scaleUp[1])
	}
	m.Observe(now, nil, []*corev1.Pod{judged}, nil)
	return m
}

// TestDoomedPod: each rule that fails a pod, next to the healthy-but-noisy
// twin it must not trip.
func TestDoomedPod(t *testing.T) {
	ff := rollout.Options{FailFast: true}
	old := pod("p", serving(7)) // at the baseline
	tests := []struct {
		name   string
		pod    *corev1.Pod
		h      history
		reason string // "" = not doomed
		msg    string // substring of the message
	}{
		{"running ready", pod("p", nil), history{}, "", ""},
		{"container creating", pod("p", waiting("ContainerCreating", "")), history{}, "", ""},

		// Image pulls: permanent causes at once, transient ones after the grace.
		{"pull not found fails at once", pod("p", waiting("ErrImagePull", msgNotFound)), history{}, "ErrImagePull", "not found"},
		{"back-off after not found fails at once", pod("p", waiting("ImagePullBackOff", `Back-off pulling image "ghcr.io/acme/erlmcp:9.9.9"`)),
			history{earlier: pod("p", waiting("ErrImagePull", msgNotFound)), seen: time.Second}, "ImagePullBackOff", "9.9.9: not found"},
		{"pull unauthorized", pod("p", waiting("ErrImagePull", msgUnauthorized)), history{}, "ErrImagePull", "401 Unauthorized"},
		{"pull forbidden", pod("p", waiting("ErrImagePull", msgForbidden)), history{}, "ErrImagePull", "403"},
		{"pull denied", pod("p", waiting("ErrImagePull", msgDenied)), history{}, "ErrImagePull", "denied"},
		{"invalid image name", pod("p", waiting("InvalidImageName", `couldn't parse image name "X:1"`)), history{}, "InvalidImageName", ""},
		{"twin: 429 within the grace", pod("p", waiting("ImagePullBackOff", `Back-off pulling image "nginx"`)),
			history{earlier: pod("p", waiting("ErrImagePull", msgRateLimit)), seen: 90 * time.Second}, "", ""},
		{"429 past the grace", pod("p", waiting("ImagePullBackOff", `Back-off pulling image "nginx"`)),
			history{earlier: pod("p", waiting("ErrImagePull", msgRateLimit)), seen: 2*time.Minute + time.Second}, "ImagePullBackOff", "kept failing for 2m0s"},
		{"twin: i/o timeout within the grace", pod("p", waiting("ErrImagePull", msgTimeout)), history{seen: time.Minute}, "", ""},
		{"twin: TLS handshake timeout within the grace", pod("p", waiting("ErrImagePull", msgTLS)), history{seen: time.Minute}, "", ""},
		{"twin: connection reset within the grace", pod("p", waiting("ErrImagePull", msgReset)), history{seen: time.Minute}, "", ""},
		{"twin: back-off of unknown cause within the grace", pod("p", waiting("ImagePullBackOff", "Back-off pulling image")), history{seen: time.Minute}, "", ""},
		{"back-off of unknown cause past the grace", pod("p", waiting("ImagePullBackOff", "Back-off pulling image")), history{seen: 3 * time.Minute}, "ImagePullBackOff", "kept failing"},

		// Crash loops: counted from the change, tolerated up to 2 restarts.
		{"twin: first CrashLoopBackOff (restart 1) is not a loop", pod("p", crashing(1, "Error", 1)), history{}, "", ""},
		{"twin: second restart is tolerated", pod("p", crashing(2, "Error", 1)), history{}, "", ""},
		{"third restart since the change is a crash loop", pod("p", crashing(3, "Error", 1)), history{}, "CrashLoopBackOff", "restarted 3 times since the change"},
		{"twin: crashed once, Ready now", pod("p", func(p *corev1.Pod) {
			crashing(1, "Error", 1)(p)
			p.Status.ContainerStatuses[0].Ready = true
			p.Status.ContainerStatuses[0].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
		}), history{}, "", ""},
		{"twin: old pod with 7 restarts and an old OOM kill, serving", pod("p", serving(7)), history{baseline: []*corev1.Pod{old}}, "", ""},
		{"twin: old pod with 7 restarts, not ready now, no new restart", pod("p", func(p *corev1.Pod) {
			serving(7)(p)
			p.Status.ContainerStatuses[0].Ready = false
		}), history{baseline: []*corev1.Pod{old}}, "", ""},
		{"old pod that restarts 3 more times since the change", pod("p", func(p *corev1.Pod) {
			crashing(10, "Error", 1)(p)
		}), history{baseline: []*corev1.Pod{old}}, "CrashLoopBackOff", "restarted 3 times since the change"},
		{"twin: old pod in CrashLoopBackOff at 7 restarts, 2 since", pod("p", crashing(9, "Error", 1)), history{baseline: []*corev1.Pod{old}}, "", ""},
		{"restarts without CrashLoopBackOff, never ready", pod("p", func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].Ready = false
			p.Status.ContainerStatuses[0].RestartCount = 4
		}), history{}, rollout.ReasonRestarts, "restarted 4 times"},
		{"twin: 4 restarts but Ready", pod("p", func(p *corev1.Pod) { p.Status.ContainerStatuses[0].RestartCount = 4 }), history{}, "", ""},
		{"twin: an init container that completed is not a crash", pod("p", func(p *corev1.Pod) {
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "migrate", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed", ExitCode: 0, FinishedAt: metav1.NewTime(now)}}}}
		}), history{}, "", ""},
		{"init container crash loop", pod("p", func(p *corev1.Pod) {
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "migrate", RestartCount: 3, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
		}), history{}, "CrashLoopBackOff", ""},

		// OOM kills: only after the change, only while not Ready.
		{"twin: a single OOM kill, Ready now", pod("p", func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].RestartCount = 1
			p.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137, FinishedAt: metav1.NewTime(now)}}
		}), history{}, "", ""},
		{"twin: one OOM kill, restarting", pod("p", crashing(1, "OOMKilled", 137)), history{}, "", ""},
		{"OOM-killed 3 times since the change", pod("p", crashing(3, "OOMKilled", 137)), history{}, "OOMKilled", "raise its memory limit"},
		{"OOM-killed now, third crash", pod("p", func(p *corev1.Pod) {
			crashing(2, "Error", 1)(p)
			p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137, FinishedAt: metav1.NewTime(now)}}
		}), history{}, "OOMKilled", ""},
		{"twin: old pod's OOM kill before the change, not ready", pod("p", func(p *corev1.Pod) {
			serving(7)(p)
			p.Status.ContainerStatuses[0].Ready = false
		}), history{baseline: []*corev1.Pod{old}}, "", ""},

		// Configuration and runtime errors.
		{"config error", pod("p", waiting("CreateContainerConfigError", `secret "erlmcp-env" not found`)), history{}, "CreateContainerConfigError", ""},
		{"config key missing", pod("p", waiting("CreateContainerConfigError", "couldn't find key DB_URL in ConfigMap erlmcp/erlmcp-config")), history{}, "CreateContainerConfigError", ""},
		{"twin: config cache lag", pod("p", waiting("CreateContainerConfigError", "failed to sync configmap cache: timed out waiting for the condition")), history{}, "", ""},
		{"create container error", pod("p", waiting("CreateContainerError", "context deadline exceeded")), history{}, "CreateContainerError", ""},
		{"run container error", pod("p", waiting("RunContainerError", "exec: not found")), history{}, "RunContainerError", ""},
		{"cannot run", pod("p", func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "ContainerCannotRun", ExitCode: 127, FinishedAt: metav1.NewTime(now)}}
		}), history{}, "ContainerCannotRun", ""},
		{"twin: cannot run exit 128 is transient", pod("p", func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "ContainerCannotRun", ExitCode: 128}}
		}), history{}, "", ""},

		// Pod phase.
		{"failed phase", pod("p", func(p *corev1.Pod) { p.Status.Phase, p.Status.Reason = corev1.PodFailed, "DeadlineExceeded" }), history{}, "DeadlineExceeded", ""},
		{"twin: failed before the change", pod("p", func(p *corev1.Pod) { p.Status.Phase, p.Status.Reason = corev1.PodFailed, "DeadlineExceeded" }),
			history{baseline: []*corev1.Pod{pod("p", func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed })}}, "", ""},
		{"twin: evicted", pod("p", func(p *corev1.Pod) { p.Status.Phase, p.Status.Reason = corev1.PodFailed, "Evicted" }), history{}, "", ""},
		{"twin: preempting", pod("p", func(p *corev1.Pod) { p.Status.Phase, p.Status.Reason = corev1.PodFailed, "Preempting" }), history{}, "", ""},
		{"twin: terminating pod is ignored", pod("p", func(p *corev1.Pod) {
			crashing(9, "Error", 1)(p)
			p.DeletionTimestamp = &metav1.Time{Time: now}
		}), history{}, "", ""},

		// Scheduling: a scale-up under way waits; otherwise the grace.
		{"twin: unschedulable within the grace", pod("p", unschedulablePod), history{seen: 59 * time.Second}, "", ""},
		{"unschedulable past the grace", pod("p", unschedulablePod), history{seen: 61 * time.Second}, rollout.ReasonUnschedulable, "Insufficient cpu"},
		{"unschedulable past the grace, autoscaler found no node group", pod("p", unschedulablePod),
			history{seen: 61 * time.Second, scaleUp: [2]string{"NotTriggerScaleUp", "pod didn't trigger scale-up: 1 max node group size reached"}}, rollout.ReasonUnschedulable, "max node group size reached"},
		{"twin: cluster-autoscaler TriggeredScaleUp", pod("p", unschedulablePod),
			history{seen: 9 * time.Minute, scaleUp: [2]string{"TriggeredScaleUp", "pod triggered scale-up: [{eks-ng-1 3->4 (max: 10)}]"}}, "", ""},
		{"twin: Karpenter Nominated", pod("p", unschedulablePod),
			history{seen: 9 * time.Minute, scaleUp: [2]string{"Nominated", "Pod should schedule on: nodeclaim/default-x7k2p"}}, "", ""},
		{"twin: nominated node (preemption)", pod("p", func(p *corev1.Pod) {
			unschedulablePod(p)
			p.Status.NominatedNodeName = "node-3"
		}), history{seen: 9 * time.Minute}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.pod.UID = types.UID("uid-" + tc.pod.Name)
			for _, b := range tc.h.baseline {
				b.UID = tc.pod.UID
			}
			if tc.h.earlier != nil {
				tc.h.earlier.UID = tc.pod.UID
			}
			p := rollout.DoomedPod(tc.pod, tc.h.memory(tc.pod), now, ff)
			if tc.reason == "" {
				assert.Nil(t, p, "must not fail: %v", p)
				return
			}
			if assert.NotNil(t, p, "must fail") {
				assert.Equal(t, tc.reason, p.Reason)
				assert.Equal(t, "p", p.Pod)
				assert.Contains(t, p.Message, tc.msg)
			}
		})
	}
}

func TestCrashLoopReportsLastExit(t *testing.T) {
	p := rollout.DoomedPod(pod("erlmcp-1", crashing(3, "Error", 1)), nil, now, rollout.Options{})
	if assert.NotNil(t, p) {
		assert.Equal(t, "erlmcp-1/erlmcp: CrashLoopBackOff: back-off 10s restarting failed container=erlmcp pod=p (restarted 3 times since the change, tolerance 2) (last exit 1, Error)", p.String())
		assert.Equal(t, int32(1), *p.ExitCode)
		assert.Equal(t, int32(3), p.Restarts)
	}
}

func TestCrashLoopTolerance(t *testing.T) {
	opts := rollout.Options{CrashLoopRestarts: 5}
	assert.Nil(t, rollout.DoomedPod(pod("p", crashing(5, "Error", 1)), nil, now, opts))
	assert.NotNil(t, rollout.DoomedPod(pod("p", crashing(6, "Error", 1)), nil, now, opts))
}

func TestEvaluateRules(t *testing.T) {
	ff := rollout.Options{FailFast: true}
	progressing := dep(func(d *appsv1.Deployment) {
		d.Status.UpdatedReplicas, d.Status.AvailableReplicas, d.Status.Replicas = 1, 3, 4
	})
	quota := func() *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "erlmcp-abc"}, Status: appsv1.ReplicaSetStatus{Conditions: []appsv1.ReplicaSetCondition{{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate",
			Message: `pods "erlmcp-abc-x" is forbidden: exceeded quota: erlmcp, requested: pods=1, used: pods=3, limited: pods=3`}}}}
	}
	seenAt := func(rs *appsv1.ReplicaSet, ago time.Duration) *rollout.Memory {
		m := &rollout.Memory{}
		m.Observe(now.Add(-ago), rs, nil, nil)
		return m
	}
	terminating := pod("old", func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: now} })
	// freedAgo: the quota failure was first seen `seen` ago; an old pod went `freed` ago.
	freedAgo := func(rs *appsv1.ReplicaSet, seen, freed time.Duration) *rollout.Memory {
		m := &rollout.Memory{}
		m.Observe(now.Add(-seen), rs, nil, []*corev1.Pod{pod("old", nil)})
		m.Observe(now.Add(-freed), rs, nil, nil)
		return m
	}
	ours := dep(nil).Spec.Template.DeepCopy()
	ours.Spec.Containers = []corev1.Container{{Name: "erlmcp", Image: "ghcr.io/acme/erlmcp:2.0.0"}}
	theirs := dep(func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "erlmcp", Image: "ghcr.io/acme/erlmcp:1.0.0"}}
		d.ManagedFields = []metav1.ManagedFieldsEntry{
			{Manager: "erlmcp-deploy", Operation: metav1.ManagedFieldsOperationUpdate, Time: &metav1.Time{Time: now.Add(-time.Minute)},
				FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:template":{"f:spec":{}}}}`)}},
			{Manager: "argocd-controller", Operation: metav1.ManagedFieldsOperationApply, Time: &metav1.Time{Time: now.Add(-3 * time.Second)},
				FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:template":{"f:spec":{"f:containers":{}}}}}`)}},
			{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status", Time: &metav1.Time{Time: now},
				FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:status":{}}`)}},
		}
	})
	tests := []struct {
		name    string
		s       rollout.Snapshot
		phase   rollout.Phase
		reason  string
		message string // substring
	}{
		{"complete beats a doomed pod", rollout.Snapshot{Deployment: dep(nil), Now: now, Pods: []*corev1.Pod{pod("a", crashing(9, "Error", 1))}},
			rollout.Succeeded, "", "successfully rolled out"},
		{"another writer changed the template", rollout.Snapshot{Deployment: theirs, Template: ours, FieldManager: "erlmcp-deploy", Now: now},
			rollout.Failed, rollout.ReasonTemplateChanged,
			"deployment erlmcp's pod template was changed by argocd-controller (Apply at 11:59:57) while we waited: container erlmcp runs ghcr.io/acme/erlmcp:1.0.0, we deployed ghcr.io/acme/erlmcp:2.0.0"},
		{"twin: a stale cache of the old template is not another writer", rollout.Snapshot{Deployment: theirs, MinGeneration: 3, Template: ours, Now: now},
			rollout.Progressing, "", "waiting for the change to be seen"},
		{"twin: our own template", rollout.Snapshot{Deployment: dep(nil), Template: dep(nil).Spec.Template.DeepCopy(), Now: now},
			rollout.Succeeded, "", "successfully rolled out"},
		{"quota: none terminating, settled", rollout.Snapshot{Deployment: progressing, NewReplicaSet: quota(), Memory: seenAt(quota(), 3*time.Second), Now: now},
			rollout.Failed, "FailedCreate", "no old pod is terminating"},
		{"twin: quota just seen", rollout.Snapshot{Deployment: progressing, NewReplicaSet: quota(), Memory: seenAt(quota(), time.Second), Now: now},
			rollout.Progressing, "", "cannot create a pod yet"},
		{"twin: quota while an old pod terminates", rollout.Snapshot{Deployment: progressing, NewReplicaSet: quota(), OldPods: []*corev1.Pod{terminating}, Memory: seenAt(quota(), 20*time.Second), Now: now},
			rollout.Progressing, "", "waiting up to 30s for terminating old pods to free room"},
		{"twin: quota just after an old pod went (the controller retries)", rollout.Snapshot{Deployment: progressing, NewReplicaSet: quota(), Memory: freedAgo(quota(), 20*time.Second, 5*time.Second), Now: now},
			rollout.Progressing, "", "waiting up to 30s"},
		{"twin: quota condition left over after the ReplicaSet created pods", rollout.Snapshot{Deployment: progressing, NewReplicaSet: quota(), Pods: []*corev1.Pod{pod("new", nil)},
			Memory: seenAt(quota(), 25*time.Second), Now: now},
			rollout.Progressing, "", "creates pods as room frees"},
		{"quota long after the last old pod went", rollout.Snapshot{Deployment: progressing, NewReplicaSet: quota(), Memory: freedAgo(quota(), 25*time.Second, 15*time.Second), Now: now},
			rollout.Failed, "FailedCreate", "no old pod is terminating"},
		{"quota past the grace even while an old pod terminates", rollout.Snapshot{Deployment: progressing, NewReplicaSet: quota(), OldPods: []*corev1.Pod{terminating}, Memory: seenAt(quota(), 31*time.Second), Now: now},
			rollout.Failed, "FailedCreate", "exceeded quota"},
		{"twin: a completed init container is no noise", rollout.Snapshot{Deployment: progressing, Pods: []*corev1.Pod{pod("a", func(p *corev1.Pod) {
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "migrate", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed", FinishedAt: metav1.NewTime(now)}}}}
		})}, Now: now}, rollout.Progressing, "", "1 out of 3 new replicas have been updated"},
		{"tolerated faults are said", rollout.Snapshot{Deployment: progressing, Pods: []*corev1.Pod{pod("a", crashing(1, "Error", 1))}, Now: now},
			rollout.Progressing, "", "1 out of 3 new replicas have been updated; a/erlmcp crashed 1 time(s) since the change; tolerating up to 2 restarts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := rollout.Evaluate(tc.s, ff)
			assert.Equal(t, tc.phase, v.Phase, v.Message)
			assert.Equal(t, tc.reason, v.Reason)
			assert.Contains(t, v.Message, tc.message)
			if tc.phase == rollout.Progressing && len(v.Tolerated) == 0 {
				assert.Equal(t, tc.message, v.Message, "nothing tolerated, nothing added")
			}
		})
	}
}

func TestMemoryGraceRestartsWhenTheFaultClears(t *testing.T) {
	p := pod("p", unschedulablePod)
	p.UID = "u1"
	m := &rollout.Memory{}
	m.Observe(now.Add(-2*time.Minute), nil, []*corev1.Pod{p}, nil)
	m.Observe(now.Add(-30*time.Second), nil, []*corev1.Pod{pod("p", func(q *corev1.Pod) { q.UID = "u1" })}, nil) // scheduled meanwhile
	m.Observe(now, nil, []*corev1.Pod{p}, nil)
	require.Nil(t, rollout.DoomedPod(p, m, now, rollout.Options{}), "the grace counts from the last time the fault appeared")
}
func TestEvaluate(t *testing.T) {
	crash := pod("b", crashing(3, "Error", 1))
	pull := pod("a", waiting("ErrImagePull", msgNotFound))
	rsFailed := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "erlmcp-abc"}, Status: appsv1.ReplicaSetStatus{Conditions: []appsv1.ReplicaSetCondition{{
		Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate", Message: `pods "erlmcp-abc-" is forbidden: exceeded quota`}}}}
	rsUnavailable := rsFailed.DeepCopy()
	rsUnavailable.Status.Conditions[0].Message = "rpc error: code = Unavailable desc = error reading from server: connection reset by peer"
	seen := func(rs *appsv1.ReplicaSet) *rollout.Memory {
		m := &rollout.Memory{}
		m.Observe(now.Add(-time.Minute), rs, nil, nil)
		return m
	}
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
			rollout.Failed, "ErrImagePull", "a/erlmcp: ErrImagePull: " + msgNotFound + " (and 1 more)"},
		{"doomed pods ignored without fail-fast", rollout.Snapshot{Deployment: progressing, Now: now, Pods: []*corev1.Pod{crash}}, rollout.Options{}, rollout.Progressing, "", "1 out of 3 new replicas have been updated"},
		{"replicaset cannot create pods", rollout.Snapshot{Deployment: progressing, Now: now, NewReplicaSet: rsFailed, Memory: seen(rsFailed)}, rollout.Options{FailFast: true},
			rollout.Failed, "FailedCreate", `replicaset/erlmcp-abc: FailedCreate: pods "erlmcp-abc-" is forbidden: exceeded quota (no old pod is terminating to free room)`},
		{"replicaset create failed on an etcd blip: retried by the controller", rollout.Snapshot{Deployment: progressing, Now: now, NewReplicaSet: rsUnavailable, Memory: seen(rsUnavailable)},
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

func TestChangeTimeAndBaselinePods(t *testing.T) {
	patched := metav1.NewTime(now)
	d := dep(func(d *appsv1.Deployment) {
		d.Generation, d.Status.ObservedGeneration = 3, 2 // as a patch returns it
		d.ManagedFields = []metav1.ManagedFieldsEntry{
			{Manager: "kubectl-create", Time: &metav1.Time{Time: now.Add(-time.Hour)}},
			{Manager: rollout.FieldManager, Time: &patched},
			{Manager: "kube-controller-manager", Subresource: "status", Time: &metav1.Time{Time: now.Add(time.Second)}},
		}
	})
	assert.Equal(t, now, rollout.ChangeTime(d))
	d.Status.ObservedGeneration = 3
	assert.True(t, rollout.ChangeTime(d).IsZero(), "a Deployment read back, not changed: every pod is in the baseline")

	old := pod("old", func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(now.Add(-time.Minute)) })
	fresh := pod("new", func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(now) })
	assert.Equal(t, []*corev1.Pod{old}, rollout.CreatedBefore([]*corev1.Pod{old, fresh}, now))
	assert.Len(t, rollout.CreatedBefore([]*corev1.Pod{old, fresh}, time.Time{}), 2)
}
