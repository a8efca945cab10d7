package deploy

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/org/erlmcp-deploy/internal/history"
)

// Tests named TestPure... need no cluster: they run under make unit too.

func TestPurePatchBodyExactBytes(t *testing.T) {
	b, err := PatchBody("erlmcp", "ghcr.io/acme/erlmcp@sha256:0123", `deploy "1.1.0" by octocat`)
	require.NoError(t, err)
	assert.Equal(t, `{"metadata":{"annotations":{"erlmcp-deploy.io/failed":null,"erlmcp-deploy.io/successful":null,"kubernetes.io/change-cause":"deploy \"1.1.0\" by octocat"}},`+
		`"spec":{"template":{"spec":{"containers":[{"image":"ghcr.io/acme/erlmcp@sha256:0123","name":"erlmcp"}]}}}}`, string(b))
}

func TestPurePatchBodyWithInitContainers(t *testing.T) {
	b, err := PatchBody("erlmcp", "ghcr.io/acme/erlmcp:1.1.0", "c", "migrate")
	require.NoError(t, err)
	assert.Equal(t, `{"metadata":{"annotations":{"erlmcp-deploy.io/failed":null,"erlmcp-deploy.io/successful":null,"kubernetes.io/change-cause":"c"}},`+
		`"spec":{"template":{"spec":{"containers":[{"image":"ghcr.io/acme/erlmcp:1.1.0","name":"erlmcp"}],"initContainers":[{"image":"ghcr.io/acme/erlmcp:1.1.0","name":"migrate"}]}}}}`, string(b))
}

func TestPureSameRepositoryInits(t *testing.T) {
	d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "erlmcp", Image: "ghcr.io/acme/erlmcp:1.0.0"}, {Name: "proxy", Image: "envoyproxy/envoy:v1.30"}},
		InitContainers: []corev1.Container{
			{Name: "migrate", Image: "ghcr.io/acme/erlmcp@sha256:" + strings.Repeat("a", 64)},
			{Name: "wait-db", Image: "busybox:1.36"},
			{Name: "other-registry", Image: "docker.io/acme/erlmcp:1.0.0"},
			{Name: "registry-port", Image: "registry.local:5000/acme/erlmcp:1.0.0"},
		}}}}}
	assert.Equal(t, []string{"migrate"}, SameRepositoryInits(d, "erlmcp"))
	assert.Empty(t, SameRepositoryInits(d, "proxy"))
	d.Spec.Template.Spec.Containers[0].Image = "registry.local:5000/acme/erlmcp:0.9"
	assert.Equal(t, []string{"registry-port"}, SameRepositoryInits(d, "erlmcp"), "a registry port is part of the repository")
}

func TestPurePickContainer(t *testing.T) {
	d := func(names ...string) *appsv1.Deployment {
		out := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "erlmcp"}}
		for _, n := range names {
			out.Spec.Template.Spec.Containers = append(out.Spec.Template.Spec.Containers, corev1.Container{Name: n})
		}
		return out
	}
	for _, tc := range []struct {
		name, want, got, err string
		d                    *appsv1.Deployment
	}{
		{"the only container", "", "erlmcp", "", d("erlmcp")},
		{"named", "sidecar", "sidecar", "", d("erlmcp", "sidecar")},
		{"several, none named", "", "", "deployment erlmcp has 2 containers (erlmcp, sidecar): set the container input to the one to update", d("erlmcp", "sidecar")},
		{"unknown name", "web", "", `deployment erlmcp has no container "web"; its containers are erlmcp`, d("erlmcp")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PickContainer(tc.d, tc.want)
			if tc.err != "" {
				assert.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.got, got)
		})
	}
}

func TestPurePermissions(t *testing.T) {
	names := func(ps []permission) (required, optional []string) {
		for _, p := range ps {
			if p.optional {
				optional = append(optional, p.String())
			} else {
				required = append(required, p.String())
			}
		}
		return
	}
	req, opt := names(permissions(false))
	assert.Equal(t, []string{"get deployments.apps", "patch deployments.apps", "list deployments.apps", "watch deployments.apps",
		"list replicasets.apps", "watch replicasets.apps", "list pods", "watch pods",
		"create leases.coordination.k8s.io", "get leases.coordination.k8s.io", "update leases.coordination.k8s.io", "delete leases.coordination.k8s.io"}, req)
	assert.Equal(t, []string{"patch replicasets.apps", "get pods/log", "list events"}, opt)
	req, _ = names(permissions(true))
	assert.NotContains(t, req, "create leases.coordination.k8s.io", "a dry run takes no lock")
}

func TestPureRollbackTarget(t *testing.T) {
	rs := func(uid string) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid)}}
	}
	rev := func(n int64, uid string, ok bool, failed string) history.Revision {
		return history.Revision{Number: n, ReplicaSet: rs(uid), Successful: ok, Failed: failed}
	}
	good := rev(4, "u4", true, "")
	for _, tc := range []struct {
		name   string
		sv     serving
		failed *appsv1.ReplicaSet
		want   int64 // 0 = none
	}{
		{"what served complete and Available at the start", serving{good: &good, revs: []history.Revision{rev(5, "u5", false, ""), good}}, rs("u5"), 4},
		{"started from an unfinished rollout: the last verified revision", serving{why: "its rollout is unfinished",
			revs: []history.Revision{rev(6, "u6", false, ""), rev(5, "u5", false, "x"), rev(4, "u4", true, ""), rev(3, "u3", true, "")}}, rs("u6"), 4},
		{"never a failed revision", serving{revs: []history.Revision{rev(5, "u5", false, "rolled back"), rev(3, "u3", true, "")}}, rs("u6"), 3},
		{"never the failed rollout's own ReplicaSet", serving{revs: []history.Revision{rev(4, "u4", true, "")}}, rs("u4"), 0},
		{"nothing verified: no rollback", serving{why: "it is not Available", revs: []history.Revision{rev(4, "u4", false, "")}}, rs("u5"), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := tc.sv.target(tc.failed)
			if tc.want == 0 {
				assert.Nil(t, got)
				assert.Contains(t, why, "no revision was ever verified")
				return
			}
			require.NotNil(t, got, why)
			assert.Equal(t, tc.want, got.Number)
		})
	}
}
