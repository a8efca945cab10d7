package rollout

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/org/erlmcp-deploy/internal/bootcause"
)

// Memory is what a watch saw before the snapshot it judges: the state of every
// pod when the watch started (the baseline, so only what happens after our
// change counts), and facts that a later status no longer shows — the cause
// of an image pull failure (ImagePullBackOff hides it), when a fault was
// first seen, and a scale-up that an autoscaler announced in an event.
// The zero value is ready to use; Observe and Baseline fill it.
type Memory struct {
	// Started is when the baseline was taken (zero: no baseline, every pod is new).
	Started time.Time
	// Pods is the baseline: each pod that existed at Started, by UID.
	Pods map[types.UID]PodMark
	// Seen is when each fault key (see faultKey) was first observed.
	Seen map[string]time.Time
	// PullCause is the last ErrImagePull message of each pod/container key.
	PullCause map[string]string
	// ScaleUp holds, per pod UID, the autoscaler event that says a node is coming.
	ScaleUp map[types.UID]string
	// NoScaleUp holds, per pod UID, a NotTriggerScaleUp event message.
	NoScaleUp map[types.UID]string
	// Freed is when an old pod was last seen terminating or gone: room (quota)
	// is being freed, and the ReplicaSet controller retries after a back-off.
	Freed    time.Time
	oldCount int
	// Boot is, per crashed container instance (crashKey), what its log names
	// as the cause; an instance whose log could not be read has a zero Cause.
	Boot map[string]bootcause.Cause
	// createdAt is, per FailedCreate key, how many pods the ReplicaSet had
	// when the failure was first seen: more since means it still creates pods.
	createdAt map[string]int
}

// PodMark is a pod's state at the baseline.
type PodMark struct {
	Failed     bool
	Containers map[string]ContainerMark
}

// ContainerMark is a container's state at the baseline.
type ContainerMark struct {
	Restarts int32
	// Terminations are the finish times of the terminations it already showed.
	Terminations []time.Time
}

// Baseline records every pod of pods as it is now: what these pods did before
// the change (restarts, OOM kills, a failed phase) never counts against it.
func (m *Memory) Baseline(now time.Time, pods []*corev1.Pod) {
	m.Started = now
	if m.Pods == nil {
		m.Pods = map[types.UID]PodMark{}
	}
	for _, p := range pods {
		mark := PodMark{Failed: p.Status.Phase == corev1.PodFailed, Containers: map[string]ContainerMark{}}
		for _, cs := range allStatuses(p) {
			cm := ContainerMark{Restarts: cs.RestartCount}
			for _, t := range []*corev1.ContainerStateTerminated{cs.State.Terminated, cs.LastTerminationState.Terminated} {
				if t != nil {
					cm.Terminations = append(cm.Terminations, t.FinishedAt.Time)
				}
			}
			mark.Containers[cs.Name] = cm
		}
		m.Pods[p.UID] = mark
	}
}

// Observe records the facts of one view of the new ReplicaSet, its pods and
// the Deployment's old pods that later statuses may hide: the first time each
// fault was seen, the cause of each failed image pull, and when old pods
// last freed room.
func (m *Memory) Observe(now time.Time, rs *appsv1.ReplicaSet, pods, old []*corev1.Pod) {
	for _, p := range old {
		if p.DeletionTimestamp != nil {
			m.Freed = now
		}
	}
	if len(old) < m.oldCount {
		m.Freed = now
	}
	m.oldCount = len(old)
	if m.Seen == nil {
		m.Seen = map[string]time.Time{}
	}
	live := map[string]bool{}
	see := func(key string) {
		live[key] = true
		if _, ok := m.Seen[key]; !ok {
			m.Seen[key] = now
		}
	}
	if rs != nil {
		for _, c := range rs.Status.Conditions {
			if c.Type == appsv1.ReplicaSetReplicaFailure && c.Status == corev1.ConditionTrue {
				key := failedCreateKey(rs)
				if _, ok := m.Seen[key]; !ok {
					if m.createdAt == nil {
						m.createdAt = map[string]int{}
					}
					m.createdAt[key] = len(pods)
				}
				see(key)
			}
		}
	}
	for _, p := range pods {
		if unschedulable(p) != nil {
			see(unschedulableKey(p))
		}
		for _, cs := range allStatuses(p) {
			w := cs.State.Waiting
			if w == nil || !isPullFailure(w.Reason) {
				continue
			}
			see(containerKey(p, cs.Name) + "/pull")
		}
		m.RecordPull(p)
	}
	// A fault that cleared starts its grace again if it comes back.
	for key := range m.Seen {
		if !live[key] {
			delete(m.Seen, key)
		}
	}
}

// RecordPull notes the cause of each failed image pull of p: a later
// ImagePullBackOff status no longer says it.
func (m *Memory) RecordPull(p *corev1.Pod) {
	for _, cs := range allStatuses(p) {
		if w := cs.State.Waiting; w != nil && w.Reason == "ErrImagePull" && w.Message != "" {
			if m.PullCause == nil {
				m.PullCause = map[string]string{}
			}
			m.PullCause[containerKey(p, cs.Name)] = w.Message
		}
	}
}

// SawScaleUp records an autoscaler's event on a pending pod: reason
// TriggeredScaleUp (cluster-autoscaler) or Nominated (Karpenter) means a node
// is coming; NotTriggerScaleUp means no node group fits.
func (m *Memory) SawScaleUp(pod types.UID, reason, message string) {
	if m.ScaleUp == nil {
		m.ScaleUp, m.NoScaleUp = map[types.UID]string{}, map[types.UID]string{}
	}
	switch reason {
	case "TriggeredScaleUp", "Nominated":
		m.ScaleUp[pod] = reason + ": " + message
	case "NotTriggerScaleUp":
		m.NoScaleUp[pod] = message
	}
}

// since is how long the fault key has been seen (0 when it was not).
func (m *Memory) since(key string, now time.Time) time.Duration {
	if t, ok := m.Seen[key]; ok {
		return now.Sub(t)
	}
	return 0
}

// createdSince reports whether rs has more pods than when its FailedCreate
// was first seen: the failure is not (or no longer) blocking it.
func (m *Memory) createdSince(rs *appsv1.ReplicaSet, pods []*corev1.Pod) bool {
	n, ok := m.createdAt[failedCreateKey(rs)]
	return ok && len(pods) > n
}

// mark is the baseline of one container, and whether its pod was in the baseline.
func (m *Memory) mark(p *corev1.Pod, container string) (ContainerMark, bool) {
	pm, ok := m.Pods[p.UID]
	if !ok {
		return ContainerMark{}, false
	}
	return pm.Containers[container], true
}

// newTermination reports whether t happened after the baseline of its container.
func (cm ContainerMark) newTermination(t *corev1.ContainerStateTerminated) bool {
	if t == nil {
		return false
	}
	for _, old := range cm.Terminations {
		if old.Equal(t.FinishedAt.Time) {
			return false
		}
	}
	return true
}

// unschedulable is p's PodScheduled=False/Unschedulable condition, or nil.
func unschedulable(p *corev1.Pod) *corev1.PodCondition {
	for i, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func allStatuses(p *corev1.Pod) []corev1.ContainerStatus {
	return append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
}

func isPullFailure(reason string) bool {
	return reason == "ErrImagePull" || reason == "ImagePullBackOff"
}

func containerKey(p *corev1.Pod, container string) string {
	return string(p.UID) + "/" + p.Name + "/" + container
}

func unschedulableKey(p *corev1.Pod) string { return string(p.UID) + "/" + p.Name + "/unschedulable" }

func failedCreateKey(rs *appsv1.ReplicaSet) string { return "replicaset/" + rs.Name + "/failedcreate" }

// pullCause is the best known cause of a container's failing pull.
func (m *Memory) pullCause(p *corev1.Pod, cs corev1.ContainerStatus) string {
	if w := cs.State.Waiting; w != nil && w.Reason == "ErrImagePull" && w.Message != "" {
		return w.Message
	}
	if c := m.PullCause[containerKey(p, cs.Name)]; c != "" {
		return c
	}
	if w := cs.State.Waiting; w != nil {
		return strings.TrimSpace(w.Message)
	}
	return ""
}

// Crashed is a container instance that exited and whose log names why.
type Crashed struct {
	Pod       *corev1.Pod
	Container string
	// Previous says the instance was restarted: its log is the previous one.
	Previous bool
	// Key identifies the instance (see SawBoot).
	Key string
}

// Crashes lists the container instances of pods that crashed since the
// baseline, are not Ready, and whose cause is not known yet: the ones whose
// log a watch reads for a first-crash verdict.
func (m *Memory) Crashes(pods []*corev1.Pod) []Crashed {
	var out []Crashed
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, cs := range allStatuses(p) {
			inst, previous, ok := m.crashedInstance(p, cs)
			if !ok || cs.Ready {
				continue
			}
			key := crashKey(p, cs.Name, inst)
			if _, known := m.Boot[key]; known {
				continue
			}
			out = append(out, Crashed{Pod: p, Container: cs.Name, Previous: previous, Key: key})
		}
	}
	return out
}

// SawBoot records what the log of the crashed instance key names.
func (m *Memory) SawBoot(key string, c bootcause.Cause) {
	if m.Boot == nil {
		m.Boot = map[string]bootcause.Cause{}
	}
	m.Boot[key] = c
}

// bootOf is what the log of cs's last crashed instance names, and whether it was read.
func (m *Memory) bootOf(p *corev1.Pod, cs corev1.ContainerStatus) (bootcause.Cause, bool) {
	inst, _, ok := m.crashedInstance(p, cs)
	if !ok {
		return bootcause.Cause{}, false
	}
	c, read := m.Boot[crashKey(p, cs.Name, inst)]
	return c, read && c.Class != ""
}

// crashedInstance is the number of cs's last instance that crashed since
// the baseline (0 is the first start), and whether it was restarted.
func (m *Memory) crashedInstance(p *corev1.Pod, cs corev1.ContainerStatus) (int32, bool, bool) {
	mark, _ := m.mark(p, cs.Name)
	if t := cs.State.Terminated; t != nil && t.ExitCode != 0 && mark.newTermination(t) {
		return cs.RestartCount, false, true
	}
	if t := cs.LastTerminationState.Terminated; t != nil && t.ExitCode != 0 && cs.RestartCount > 0 && mark.newTermination(t) {
		return cs.RestartCount - 1, true, true
	}
	return 0, false, false
}

func crashKey(p *corev1.Pod, container string, instance int32) string {
	return fmt.Sprintf("%s/crash/%d", containerKey(p, container), instance)
}
