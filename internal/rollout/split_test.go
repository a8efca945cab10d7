package rollout_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/org/erlmcp-deploy/internal/rollout"
)

func ownedBy(uid types.UID) []metav1.OwnerReference {
	return []metav1.OwnerReference{{UID: uid, Controller: ptr.To(true), Kind: "ReplicaSet", Name: string(uid)}}
}

// The verdict's old pods are the Deployment's own: a canary's, baseline's
// or green's pods, which stable's selector matches too, are not counted.
func TestSplitPodsCountsOnlyTheDeploymentsOwn(t *testing.T) {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "erlmcp", UID: "d"}}
	rs := func(uid, owner types.UID) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{UID: uid, OwnerReferences: []metav1.OwnerReference{{UID: owner, Controller: ptr.To(true), Kind: "Deployment"}}}}
	}
	newRS, oldRS, canaryRS := rs("new", "d"), rs("old", "d"), rs("canary", "erlmcp-canary")
	pod := func(name string, rs types.UID) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: ownedBy(rs)}}
	}
	pods := []*corev1.Pod{pod("n1", "new"), pod("o1", "old"), pod("c1", "canary"), {ObjectMeta: metav1.ObjectMeta{Name: "orphan"}}}
	own, old := rollout.SplitPods(d, newRS, []*appsv1.ReplicaSet{newRS, oldRS, canaryRS}, pods)
	names := func(ps []*corev1.Pod) (out []string) {
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	assert.Equal(t, []string{"n1"}, names(own))
	assert.Equal(t, []string{"o1"}, names(old), "the canary's pod is not stable's old pod")
}
