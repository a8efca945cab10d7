package history_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/org/erlmcp-deploy/internal/history"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func template(image, hash string) corev1.PodTemplateSpec {
	labels := map[string]string{"app": "erlmcp"}
	if hash != "" {
		labels["pod-template-hash"] = hash
	}
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "erlmcp", Image: image}}}}
}

func deployment(image string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "erlmcp", UID: "d-uid", ResourceVersion: "42", Annotations: map[string]string{
			history.RevisionAnnotation: "3", history.ChangeCauseAnnotation: "deploy 1.2.0", "team": "mcp",
			corev1.LastAppliedConfigAnnotation: "{}",
		}},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(3)), Template: template(image, "")},
	}
}

func rs(name, rev, image string, age time.Duration, annotations map[string]string) *appsv1.ReplicaSet {
	a := map[string]string{history.RevisionAnnotation: rev}
	for k, v := range annotations {
		a[k] = v
	}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name + "-uid"), Annotations: a, CreationTimestamp: metav1.NewTime(t0.Add(-age)),
			OwnerReferences: []metav1.OwnerReference{{UID: "d-uid", Controller: ptr.To(true), Kind: "Deployment", Name: "erlmcp"}}},
		Spec: appsv1.ReplicaSetSpec{Template: template(image, name)},
	}
}

func TestEqualIgnoreHash(t *testing.T) {
	a, b := template("x:1", "abc"), template("x:1", "def")
	assert.True(t, history.EqualIgnoreHash(&a, &b))
	c := template("x:2", "abc")
	assert.False(t, history.EqualIgnoreHash(&a, &c))
}

func TestBuildHistory(t *testing.T) {
	d := deployment("x:3")
	foreign := rs("other", "9", "y:1", time.Hour, nil)
	foreign.OwnerReferences[0].UID = "someone-else"
	rss := []*appsv1.ReplicaSet{
		rs("r1", "1", "x:1", 3*time.Hour, map[string]string{history.ChangeCauseAnnotation: "first", history.SuccessfulAnnotation: "t"}),
		rs("r3", "3", "x:3", time.Hour, map[string]string{history.ChangeCauseAnnotation: "third"}),
		rs("r2", "2", "x:2-fault-crashloop", 2*time.Hour, nil),
		foreign,
	}
	assert.Equal(t, "r3", history.NewReplicaSet(d, rss).Name)
	revs, err := history.Build(d, rss)
	require.NoError(t, err)
	require.Len(t, revs, 3, "a ReplicaSet of another owner is not history")
	assert.Equal(t, []int64{3, 2, 1}, []int64{revs[0].Number, revs[1].Number, revs[2].Number})
	assert.True(t, revs[0].Current)
	assert.False(t, revs[1].Current)
	assert.True(t, revs[2].Successful)
	assert.Equal(t, "first", revs[2].ChangeCause)
	assert.Equal(t, []string{"x:2-fault-crashloop"}, revs[1].Images)
	b, err := json.Marshal(revs[0])
	require.NoError(t, err)
	assert.JSONEq(t, `{"revision":3,"images":["x:3"],"change-cause":"third","created":"2026-11-23T11:00:00Z","current":true,"successful":false}`, string(b))

	_, err = history.Find(revs, 7)
	assert.EqualError(t, err, "revision 7 not found; the history holds 3, 2, 1")
}

func TestUndoPatchFollowsKubectl(t *testing.T) {
	d := deployment("x:3")
	target := rs("r1", "1", "x:1", time.Hour, map[string]string{
		history.ChangeCauseAnnotation: "first", history.SuccessfulAnnotation: "t", "deployment.kubernetes.io/desired-replicas": "3", "team": "old",
	})
	patch, skip, err := history.UndoPatch(d, target)
	require.NoError(t, err)
	assert.False(t, skip)
	var ops []struct {
		Op, Path string
		Value    json.RawMessage
	}
	require.NoError(t, json.Unmarshal(patch, &ops))
	require.Len(t, ops, 3)
	assert.Equal(t, "test", ops[0].Op, "guarded by resourceVersion")
	assert.JSONEq(t, `"42"`, string(ops[0].Value))
	var tmpl corev1.PodTemplateSpec
	require.NoError(t, json.Unmarshal(ops[1].Value, &tmpl))
	assert.Equal(t, "/spec/template", ops[1].Path)
	assert.Equal(t, "x:1", tmpl.Spec.Containers[0].Image)
	assert.NotContains(t, tmpl.Labels, "pod-template-hash", "hash label removed")
	var ann map[string]string
	require.NoError(t, json.Unmarshal(ops[2].Value, &ann))
	assert.Equal(t, map[string]string{
		history.RevisionAnnotation:         "3",  // kept from the Deployment
		corev1.LastAppliedConfigAnnotation: "{}", // kept from the Deployment
		history.ChangeCauseAnnotation:      "first",
		"team":                             "old",
	}, ann, "skip-listed keys come from the Deployment, the rest from the ReplicaSet; the successful mark never travels")

	_, skip, err = history.UndoPatch(d, rs("r3", "3", "x:3", time.Hour, nil))
	require.NoError(t, err)
	assert.True(t, skip, "same template: nothing to do")
}

func TestServing(t *testing.T) {
	tmpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "erlmcp", Image: "x:1"}}}}
	d := func(mut func(*appsv1.Deployment)) *appsv1.Deployment {
		out := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "erlmcp", UID: "d", Generation: 3},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(3)), Template: tmpl},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 3, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3,
				Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}}}}
		if mut != nil {
			mut(out)
		}
		return out
	}
	rs := func(annotations map[string]string) []*appsv1.ReplicaSet {
		return []*appsv1.ReplicaSet{{ObjectMeta: metav1.ObjectMeta{Name: "erlmcp-1", UID: "r", Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{{UID: "d", Controller: ptr.To(true)}}}, Spec: appsv1.ReplicaSetSpec{Template: tmpl}}}
	}
	for _, tc := range []struct {
		name string
		d    *appsv1.Deployment
		rss  []*appsv1.ReplicaSet
		why  string // "" = serving and presumed good
	}{
		{"complete and Available", d(nil), rs(nil), ""},
		{"unfinished", d(func(d *appsv1.Deployment) { d.Status.UpdatedReplicas = 1 }), rs(nil), "its rollout is unfinished"},
		{"old pods pending termination", d(func(d *appsv1.Deployment) { d.Status.Replicas = 4 }), rs(nil), "its rollout is unfinished"},
		{"not observed", d(func(d *appsv1.Deployment) { d.Status.ObservedGeneration = 2 }), rs(nil), "not been rolled out"},
		{"not Available", d(func(d *appsv1.Deployment) { d.Status.Conditions = nil }), rs(nil), "not Available"},
		{"recorded as failed", d(nil), rs(map[string]string{history.FailedAnnotation: "2026-12-02T03:00:00Z CrashLoopBackOff"}), "recorded it as failed"},
		{"no ReplicaSet", d(nil), nil, "no ReplicaSet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := history.Serving(tc.d, tc.rss)
			if tc.why == "" {
				assert.NotNil(t, got)
				assert.Empty(t, why)
				return
			}
			assert.Nil(t, got)
			assert.Contains(t, why, tc.why)
		})
	}
}
