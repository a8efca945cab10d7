package inventory_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/org/erlmcp-deploy/internal/inventory"
	"github.com/org/erlmcp-deploy/internal/testcluster"
)

var cluster *testcluster.Cluster

func TestMain(m *testing.M) { testcluster.Main(m, &cluster) }

var nsSeq struct {
	sync.Mutex
	n int
}

// secretVerbs are the verbs a Store calls on Secrets.
var secretVerbs = []string{"get", "list", "create", "update", "delete"}

// env is one test's namespace and a Store in it.
type env struct {
	t   *testing.T
	ctx context.Context
	ns  string
	s   inventory.Store
}

// newEnv makes a namespace and a Store on it, run as the least-privilege
// deployer identity of examples/kubernetes/rbac.yaml when its Role grants the
// Secret verbs the Store uses, else (logged) as the admin.
func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	nsSeq.Lock()
	nsSeq.n++
	ns := fmt.Sprintf("inventory-%d", nsSeq.n)
	nsSeq.Unlock()
	require.NoError(t, cluster.EnsureNamespace(ctx, ns))
	id, err := cluster.Deployer(ctx, ns)
	require.NoError(t, err)
	var client kubernetes.Interface = id.Client
	if missing := notGranted(ctx, t, ns); len(missing) > 0 {
		t.Logf("the deployer Role (examples/kubernetes/rbac.yaml) lacks %v on secrets; running as admin", missing)
		client = cluster.Client
	} else {
		waitAllowed(ctx, t, id.Client, ns)
	}
	var mu sync.Mutex
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Second)
		return clock
	}
	return &env{t: t, ctx: ctx, ns: ns, s: inventory.Store{Client: client, Namespace: ns, Now: now}}
}

// notGranted are the secretVerbs the deployer Role applied in ns does not grant.
func notGranted(ctx context.Context, t *testing.T, ns string) []string {
	t.Helper()
	role, err := cluster.Client.RbacV1().Roles(ns).Get(ctx, "erlmcp-deployer", metav1.GetOptions{})
	require.NoError(t, err)
	var missing []string
	for _, verb := range secretVerbs {
		granted := false
		for _, r := range role.Rules {
			if anyOf(r.APIGroups, "") && anyOf(r.Resources, "secrets") && anyOf(r.Verbs, verb) && len(r.ResourceNames) == 0 {
				granted = true
			}
		}
		if !granted {
			missing = append(missing, verb)
		}
	}
	return missing
}

func anyOf(list []string, want string) bool {
	return slices.Contains(list, want) || slices.Contains(list, "*")
}

// waitAllowed waits until the authorizer has the Role (it lags its creation)
// and allows client every secretVerb in ns.
func waitAllowed(ctx context.Context, t *testing.T, client kubernetes.Interface, ns string) {
	t.Helper()
	var denied []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		denied = denied[:0]
		for _, verb := range secretVerbs {
			rev, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
				Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: ns, Verb: verb, Resource: "secrets"}},
			}, metav1.CreateOptions{})
			require.NoError(t, err)
			if !rev.Status.Allowed {
				denied = append(denied, verb)
			}
		}
		if len(denied) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deployer Role grants %v on secrets, but the deployer is still denied %v after 30s", secretVerbs, denied)
		}
	}
}

func (e *env) create(rel inventory.Release) inventory.Release {
	e.t.Helper()
	require.NoError(e.t, e.s.Create(e.ctx, &rel))
	return rel
}

func (e *env) revisions(name string) []int {
	e.t.Helper()
	list, err := e.s.List(e.ctx, name)
	require.NoError(e.t, err)
	revs := []int{}
	for _, r := range list {
		revs = append(revs, r.Revision)
	}
	return revs
}

func (e *env) statuses(name string) map[int]inventory.Status {
	e.t.Helper()
	list, err := e.s.List(e.ctx, name)
	require.NoError(e.t, err)
	st := map[int]inventory.Status{}
	for _, r := range list {
		st[r.Revision] = r.Status
	}
	return st
}

func TestRevisionsAndStatuses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	list, err := e.s.List(e.ctx, "erlmcp")
	require.NoError(t, err)
	assert.Empty(t, list)
	last, err := e.s.LastDeployed(e.ctx, "erlmcp")
	require.NoError(t, err)
	assert.Nil(t, last)

	r1 := e.create(inventory.Release{Name: "erlmcp", Images: []string{"ghcr.io/acme/erlmcp:1.0.0"}})
	assert.Equal(t, 1, r1.Revision)
	assert.Equal(t, inventory.Pending, r1.Status)
	assert.False(t, r1.Time.IsZero())
	assert.Equal(t, r1.Time, r1.Updated)
	r2 := e.create(inventory.Release{Name: "erlmcp", Images: []string{"ghcr.io/acme/erlmcp:1.1.0"}})
	r3 := e.create(inventory.Release{Name: "erlmcp", Status: inventory.Deployed, Images: []string{"ghcr.io/acme/erlmcp:1.2.0"}})
	assert.Equal(t, 2, r2.Revision)
	assert.Equal(t, 3, r3.Revision)
	assert.True(t, r3.Time.After(r2.Time))
	// Another release in the namespace is separate.
	o1 := e.create(inventory.Release{Name: "erlmcp.canary"})
	assert.Equal(t, 1, o1.Revision)

	assert.Equal(t, []int{3, 2, 1}, e.revisions("erlmcp"))
	assert.Equal(t, map[int]inventory.Status{1: inventory.Pending, 2: inventory.Pending, 3: inventory.Deployed}, e.statuses("erlmcp"))

	// The Secret as stored.
	sec, err := cluster.Client.CoreV1().Secrets(e.ns).Get(e.ctx, "erlmcp-deploy.release.erlmcp.v2", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, corev1.SecretType("erlmcp-deploy.io/release"), sec.Type)
	assert.Equal(t, map[string]string{
		"app.kubernetes.io/managed-by": "erlmcp-deploy",
		"erlmcp-deploy.io/release":     "erlmcp",
		"erlmcp-deploy.io/revision":    "2",
		"erlmcp-deploy.io/status":      "pending",
	}, sec.Labels)
	assert.Contains(t, sec.Data, "release")

	// Deploying 2 supersedes 3 (the other Deployed one), not the pending 1, nor the other release.
	require.NoError(t, e.s.SetStatus(e.ctx, "erlmcp", 2, inventory.Deployed, ""))
	require.NoError(t, e.s.SetStatus(e.ctx, "erlmcp.canary", 1, inventory.Deployed, ""))
	assert.Equal(t, map[int]inventory.Status{1: inventory.Pending, 2: inventory.Deployed, 3: inventory.Superseded}, e.statuses("erlmcp"))
	last, err = e.s.LastDeployed(e.ctx, "erlmcp")
	require.NoError(t, err)
	require.NotNil(t, last)
	assert.Equal(t, 2, last.Revision)
	assert.Equal(t, []string{"ghcr.io/acme/erlmcp:1.1.0"}, last.Images)
	assert.True(t, last.Updated.After(last.Time), "Updated moves with the status")

	// Failing 1 keeps 2 deployed; its reason is stored; the label follows.
	require.NoError(t, e.s.SetStatus(e.ctx, "erlmcp", 1, inventory.Failed, "verdict: error rate 12% > 1%"))
	got, err := e.s.Get(e.ctx, "erlmcp", 1)
	require.NoError(t, err)
	assert.Equal(t, inventory.Failed, got.Status)
	assert.Equal(t, "verdict: error rate 12% > 1%", got.Reason)
	sec, err = cluster.Client.CoreV1().Secrets(e.ns).Get(e.ctx, "erlmcp-deploy.release.erlmcp.v1", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "failed", sec.Labels["erlmcp-deploy.io/status"])
	last, err = e.s.LastDeployed(e.ctx, "erlmcp")
	require.NoError(t, err)
	assert.Equal(t, 2, last.Revision)

	// Deploying 3 again supersedes 2.
	require.NoError(t, e.s.SetStatus(e.ctx, "erlmcp", 3, inventory.Deployed, ""))
	assert.Equal(t, map[int]inventory.Status{1: inventory.Failed, 2: inventory.Superseded, 3: inventory.Deployed}, e.statuses("erlmcp"))
	last, err = e.s.LastDeployed(e.ctx, "erlmcp.canary")
	require.NoError(t, err)
	assert.Equal(t, 1, last.Revision, "the other release is untouched")

	// A status change of a missing revision names the ones that exist.
	err = e.s.SetStatus(e.ctx, "erlmcp", 7, inventory.Failed, "")
	assert.ErrorContains(t, err, "release erlmcp has no revision 7 (revisions in namespace "+e.ns+": 3, 2, 1)")
}

func TestGetMissing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.s.Get(e.ctx, "erlmcp", 1)
	require.Error(t, err)
	assert.Equal(t, "inventory: release erlmcp has no revision 1: it has no revisions in namespace "+e.ns, err.Error())

	e.create(inventory.Release{Name: "erlmcp"})
	e.create(inventory.Release{Name: "erlmcp"})
	_, err = e.s.Get(e.ctx, "erlmcp", 5)
	require.Error(t, err)
	assert.Equal(t, "inventory: release erlmcp has no revision 5 (revisions in namespace "+e.ns+": 2, 1)", err.Error())
	got, err := e.s.Get(e.ctx, "erlmcp", 2)
	require.NoError(t, err)
	assert.Equal(t, 2, got.Revision)
}

func TestPruneKeepsNewestDeployed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.s.Keep = 2

	e.create(inventory.Release{Name: "erlmcp", Status: inventory.Deployed, Cause: "first"})
	e.create(inventory.Release{Name: "erlmcp", Status: inventory.Failed})
	assert.Equal(t, []int{2, 1}, e.revisions("erlmcp"))
	// 3 revisions, Keep 2: 1 is beyond Keep but the newest deployed.
	e.create(inventory.Release{Name: "erlmcp", Status: inventory.Failed})
	assert.Equal(t, []int{3, 2, 1}, e.revisions("erlmcp"))
	// 2 is beyond Keep and not deployed: deleted; 1 stays.
	e.create(inventory.Release{Name: "erlmcp", Status: inventory.Failed})
	assert.Equal(t, []int{4, 3, 1}, e.revisions("erlmcp"))
	last, err := e.s.LastDeployed(e.ctx, "erlmcp")
	require.NoError(t, err)
	assert.Equal(t, 1, last.Revision)
	assert.Equal(t, "first", last.Cause)

	// Once 4 is deployed (1 superseded), the next Create leaves the newest two.
	require.NoError(t, e.s.SetStatus(e.ctx, "erlmcp", 4, inventory.Deployed, ""))
	r5 := e.create(inventory.Release{Name: "erlmcp"})
	assert.Equal(t, 5, r5.Revision, "numbering goes on after pruning")
	assert.Equal(t, []int{5, 4}, e.revisions("erlmcp"))
	_, err = cluster.Client.CoreV1().Secrets(e.ns).Get(e.ctx, inventory.SecretName("erlmcp", 1), metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the Secret of revision 1 is deleted: %v", err)

	// The default keeps 10.
	e.s.Keep = 0
	for range 12 {
		e.create(inventory.Release{Name: "erlmcp"})
	}
	revs := e.revisions("erlmcp")
	assert.Equal(t, []int{17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 4}, revs, "10 newest and the deployed 4")
}

func TestManifestsRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	manifests := []byte(`apiVersion: v1
kind: Service
metadata:
  name: erlmcp
  namespace: ` + e.ns + `
spec:
  ports:
  - port: 8080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: erlmcp
  namespace: ` + e.ns + `
spec:
  replicas: 3
  # ünïcödé survives
`)
	in := inventory.Release{
		Name:   "erlmcp",
		Images: []string{"ghcr.io/acme/erlmcp:1.0.0", "ghcr.io/acme/sidecar@sha256:" + strings.Repeat("a", 64)},
		Cause:  "deploy abc123 by octocat",
		Objects: []inventory.Ref{
			{APIVersion: "v1", Kind: "Service", Namespace: e.ns, Name: "erlmcp"},
			{APIVersion: "apps/v1", Kind: "Deployment", Namespace: e.ns, Name: "erlmcp"},
			{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole", Name: "erlmcp-reader"},
		},
		Manifests:      manifests,
		RolledBackFrom: 0,
	}
	r1 := e.create(in)
	want := in
	want.Revision, want.Status, want.Time, want.Updated = 1, inventory.Pending, r1.Time, r1.Time
	assert.Equal(t, want, r1)

	got, err := e.s.Get(e.ctx, "erlmcp", 1)
	require.NoError(t, err)
	assert.Equal(t, want, *got)
	list, err := e.s.List(e.ctx, "erlmcp")
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, want, list[0])

	// Stored gzipped: large, repetitive manifests (12 MiB) fit one Secret.
	bigDoc := strings.Repeat("# "+strings.Repeat("x", 60)+"\n", 200_000)
	big := inventory.Release{Name: "erlmcp", Manifests: []byte(bigDoc), RolledBackFrom: 1, Status: inventory.Deployed}
	r2 := e.create(big)
	require.Greater(t, len(bigDoc), 12<<20)
	last, err := e.s.LastDeployed(e.ctx, "erlmcp")
	require.NoError(t, err)
	require.NotNil(t, last)
	assert.Equal(t, r2.Revision, last.Revision)
	assert.Equal(t, 1, last.RolledBackFrom)
	assert.Equal(t, bigDoc, string(last.Manifests))

	// No manifests: nil after the round trip.
	r3 := e.create(inventory.Release{Name: "erlmcp"})
	got, err = e.s.Get(e.ctx, "erlmcp", r3.Revision)
	require.NoError(t, err)
	assert.Nil(t, got.Manifests)
	assert.Nil(t, got.Objects)
}

func TestCreateRace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// A concurrent run created revision 1's Secret between our List and Create
	// (here: before, unlabelled, so List does not see it).
	_, err := cluster.Client.CoreV1().Secrets(e.ns).Create(e.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: inventory.SecretName("erlmcp", 1)},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	rel := &inventory.Release{Name: "erlmcp"}
	err = e.s.Create(e.ctx, rel)
	require.Error(t, err)
	assert.True(t, apierrors.IsAlreadyExists(err), "AlreadyExists is surfaced: %v", err)
	assert.Contains(t, err.Error(), "inventory: release erlmcp revision 1: Secret "+e.ns+"/erlmcp-deploy.release.erlmcp.v1 already exists")
	assert.Zero(t, rel.Revision, "rel is untouched")

	// Two real concurrent Creates: one wins each revision, none is lost silently.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() { errs[i] = e.s.Create(e.ctx, &inventory.Release{Name: "erlmcp.race"}) })
	}
	wg.Wait()
	revs := e.revisions("erlmcp.race")
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
			assert.True(t, apierrors.IsAlreadyExists(err), "%v", err)
		}
	}
	assert.Len(t, revs, 2-failed, "each success is a stored revision: %v, errors %v", revs, errs)
}
