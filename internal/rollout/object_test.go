package rollout_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/org/erlmcp-deploy/internal/rollout"
)

// sts is a StatefulSet at generation 2 as kstatus reads it.
func sts(ready, updated int64, observed int64) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "StatefulSet",
		"metadata": map[string]any{"name": "erlmcp", "namespace": "ns", "generation": int64(2), "uid": "sts-uid"},
		"spec":     map[string]any{"replicas": int64(3), "updateStrategy": map[string]any{"type": "RollingUpdate"}},
		"status": map[string]any{"observedGeneration": observed, "replicas": int64(3), "readyReplicas": ready, "availableReplicas": ready,
			"currentReplicas": updated, "updatedReplicas": updated, "currentRevision": "r2", "updateRevision": "r2"},
	}}
}

func job(conditions ...map[string]any) *unstructured.Unstructured {
	conds := make([]any, len(conditions))
	for i, c := range conditions {
		conds[i] = c
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "batch/v1", "kind": "Job",
		"metadata": map[string]any{"name": "migrate", "namespace": "ns", "generation": int64(1)},
		"spec":     map[string]any{"completions": int64(1), "parallelism": int64(1), "backoffLimit": int64(6)},
		"status":   map[string]any{"active": int64(1), "conditions": conds},
	}}
}

func configMap() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "erlmcp-config", "namespace": "ns"}, "data": map[string]any{"a": "b"}}}
}

// withUID gives a pod a UID (the baseline is keyed by it).
func withUID(uid string) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.UID = types.UID(uid) }
}

func TestPureEvaluateObject(t *testing.T) {
	baselineOf := func(pods ...*corev1.Pod) *rollout.Memory {
		m := &rollout.Memory{}
		m.Baseline(now.Add(-time.Minute), pods)
		return m
	}
	crashedThrice := pod("erlmcp-2", chain(withUID("new"), crashing(3, "Error", 1)))
	crashedOnce := pod("erlmcp-2", chain(withUID("new"), crashing(1, "Error", 1)))
	oldCrashy := pod("erlmcp-0", chain(withUID("old"), crashing(9, "Error", 1)))
	tests := []struct {
		name   string
		snap   rollout.ObjectSnapshot
		phase  rollout.Phase
		reason string
	}{
		{"a ConfigMap is ready once it exists", rollout.ObjectSnapshot{Object: configMap(), Now: now}, rollout.Succeeded, ""},
		{"a StatefulSet fully updated and ready", rollout.ObjectSnapshot{Object: sts(3, 3, 2), Now: now}, rollout.Succeeded, ""},
		{"a StatefulSet not observed yet is in progress", rollout.ObjectSnapshot{Object: sts(3, 3, 1), Now: now}, rollout.Progressing, ""},
		{"a StatefulSet whose new pod crash-loops fails", rollout.ObjectSnapshot{Object: sts(2, 1, 2), Pods: []*corev1.Pod{crashedThrice}, Memory: &rollout.Memory{}, Now: now},
			rollout.Failed, "CrashLoopBackOff"},
		{"twin: a new pod that crashed once is tolerated", rollout.ObjectSnapshot{Object: sts(2, 1, 2), Pods: []*corev1.Pod{crashedOnce}, Memory: &rollout.Memory{}, Now: now},
			rollout.Progressing, ""},
		{"twin: an old pod's crash loop (before the change) does not count", rollout.ObjectSnapshot{Object: sts(2, 1, 2), Pods: []*corev1.Pod{oldCrashy},
			Memory: baselineOf(oldCrashy), Now: now}, rollout.Progressing, ""},
		{"a new pod whose image does not exist fails", rollout.ObjectSnapshot{Object: sts(2, 1, 2),
			Pods: []*corev1.Pod{pod("erlmcp-2", chain(withUID("n2"), waiting("ErrImagePull", msgNotFound)))}, Memory: &rollout.Memory{}, Now: now}, rollout.Failed, "ErrImagePull"},
		{"twin: a rate-limited pull is retried", rollout.ObjectSnapshot{Object: sts(2, 1, 2),
			Pods: []*corev1.Pod{pod("erlmcp-2", chain(withUID("n3"), waiting("ErrImagePull", msgRateLimit)))}, Memory: &rollout.Memory{}, Now: now}, rollout.Progressing, ""},
		{"a Job past its backoff limit fails", rollout.ObjectSnapshot{Object: job(map[string]any{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}), Now: now},
			rollout.Failed, "JobFailed"},
		{"a Job that completed is ready", rollout.ObjectSnapshot{Object: job(map[string]any{"type": "Complete", "status": "True"}), Now: now}, rollout.Succeeded, ""},
		{"a running Job at its deadline times out", rollout.ObjectSnapshot{Object: job(), Now: now, Deadline: now}, rollout.Failed, rollout.ReasonTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := rollout.EvaluateObject(tc.snap, rollout.Options{FailFast: true})
			assert.Equal(t, tc.phase, v.Phase, v.Message)
			assert.Equal(t, tc.reason, v.Reason, v.Message)
		})
	}
	// Without fail-fast only kstatus and the deadline decide.
	v := rollout.EvaluateObject(rollout.ObjectSnapshot{Object: sts(2, 1, 2), Pods: []*corev1.Pod{crashedThrice}, Memory: &rollout.Memory{}, Now: now}, rollout.Options{})
	assert.Equal(t, rollout.Progressing, v.Phase)
}

func TestPureControlledPods(t *testing.T) {
	yes := true
	mine := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a", OwnerReferences: []metav1.OwnerReference{{UID: "sts-uid", Controller: &yes}}}}
	other := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "b", OwnerReferences: []metav1.OwnerReference{{UID: "rs-uid", Controller: &yes}}}}
	assert.Equal(t, []*corev1.Pod{mine}, rollout.ControlledPods("sts-uid", []*corev1.Pod{mine, other}))
}
