package apply

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/org/erlmcp-deploy/internal/inventory"
	"github.com/org/erlmcp-deploy/internal/lock"
)

// preflight is what the checks before any change found.
type preflight struct {
	lock *lock.Lock
	// previous is the newest verified revision (what a failure restores).
	previous *inventory.Release
	// latest is the newest revision of any status (its objects may be live).
	latest *inventory.Release
}

// access is one verb on one resource in one namespace ("" = cluster-scoped).
type access struct {
	group, resource, sub, namespace, verb string
	optional                              bool
}

func (a access) String() string {
	r := a.resource
	if a.group != "" {
		r += "." + a.group
	}
	if a.sub != "" {
		r += "/" + a.sub
	}
	if a.namespace == "" {
		return a.verb + " " + r + " (cluster-wide)"
	}
	return a.verb + " " + r
}

// accesses are the verbs a release deploy needs: apply (get, create, patch)
// every object, delete them for prune and rollback, read and record the
// inventory, hold the lock, and watch the workloads.
func accesses(opts Options, s *set) []access {
	seen := map[access]bool{}
	var out []access
	add := func(a access) {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, m := range s.mappings {
		ns := ""
		if m.Scope.Name() == "namespace" {
			ns = opts.Namespace
		}
		verbs := []string{"get", "create", "patch"}
		if opts.Prune || opts.RollbackOnFailure {
			verbs = append(verbs, "delete")
		}
		for _, v := range verbs {
			add(access{group: m.Resource.Group, resource: m.Resource.Resource, namespace: ns, verb: v})
		}
	}
	// Objects in other namespaces than the release's are checked there.
	for i, o := range s.objects {
		if ns := o.GetNamespace(); ns != "" && ns != opts.Namespace {
			m := s.mappings[i]
			for _, v := range []string{"get", "create", "patch"} {
				add(access{group: m.Resource.Group, resource: m.Resource.Resource, namespace: ns, verb: v})
			}
		}
	}
	for i, o := range s.objects {
		// A restore deletes the broken pods of a StatefulSet (see unstick).
		if o.GetKind() == "StatefulSet" && s.mappings[i].Resource.Group == "apps" && opts.RollbackOnFailure {
			add(access{resource: "pods", namespace: o.GetNamespace(), verb: "delete"})
		}
	}
	ns := opts.Namespace
	for _, v := range []string{"get", "list", "create", "update", "delete"} {
		add(access{resource: "secrets", namespace: ns, verb: v})
	}
	for _, a := range []access{
		{group: "apps", resource: "deployments", verb: "list"}, {group: "apps", resource: "deployments", verb: "watch"},
		{group: "apps", resource: "replicasets", verb: "list"}, {group: "apps", resource: "replicasets", verb: "watch"},
		{resource: "pods", verb: "list"}, {resource: "pods", verb: "watch"},
		{group: "apps", resource: "replicasets", verb: "patch", optional: true},
		{resource: "pods", sub: "log", verb: "get", optional: true}, {resource: "events", verb: "list", optional: true},
	} {
		a.namespace = ns
		add(a)
	}
	if !opts.DryRun {
		for _, v := range []string{"get", "create", "update", "delete"} {
			add(access{group: "coordination.k8s.io", resource: "leases", namespace: ns, verb: v})
		}
	}
	return out
}

// preflight checks every permission, takes the lock and reads the release's history.
func (e *Engine) preflight(ctx context.Context, opts Options, s *set) (*preflight, error) {
	var missing, degraded []string
	list := accesses(opts, s)
	for _, a := range list {
		ok, err := e.allowed(ctx, a)
		if err != nil {
			return nil, fmt.Errorf("check permission %s: %w (nothing was changed)", a, err)
		}
		switch {
		case ok:
		case a.optional:
			degraded = append(degraded, a.String())
		default:
			missing = append(missing, a.String())
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("the deploy identity lacks permissions in namespace %s: %s (see examples/kubernetes/rbac.yaml; nothing was changed)",
			opts.Namespace, strings.Join(missing, ", "))
	}
	if len(degraded) > 0 {
		e.Log.Warnf("without %s the diagnostics of a failed release will be incomplete (see examples/kubernetes/rbac.yaml)", strings.Join(degraded, ", "))
	}
	e.Log.Infof("permissions: ok (%d verbs checked)", len(list))

	pf := &preflight{}
	if !opts.DryRun {
		ttl := opts.Timeout*2 + 5*time.Minute
		lk, err := lock.Acquire(ctx, e.Client, opts.Namespace, opts.Release,
			lock.Holder{ID: opts.Holder, Environment: opts.Environment, Action: "deploy", Target: "release " + opts.Release}, ttl, opts.Force)
		if err != nil {
			return nil, fmt.Errorf("%w (nothing was changed)", err)
		}
		switch {
		case lk.TookOver != nil:
			e.Log.Warnf("force: took the deploy lock over from %s", lk.TookOver.Holder.ID)
		case lk.Expired != nil:
			e.Log.Warnf("took over an expired deploy lock of %s", lk.Expired.Holder.ID)
		}
		e.Log.Infof("deploy lock taken (lease %s)", lock.Name(opts.Release))
		pf.lock = lk
	}
	revs, err := e.store(opts.Namespace).List(ctx, opts.Release)
	if err != nil {
		pf.release(ctx)
		return nil, fmt.Errorf("read the history of release %s: %w (nothing was changed)", opts.Release, err)
	}
	for i := range revs {
		if pf.latest == nil {
			pf.latest = &revs[i]
		}
		if pf.previous == nil && revs[i].Status == inventory.Deployed {
			pf.previous = &revs[i]
		}
	}
	switch {
	case pf.latest == nil:
		e.Log.Infof("release %s has no history in namespace %s: this is its first deploy", opts.Release, opts.Namespace)
	case pf.previous == nil:
		e.Log.Warnf("release %s has %d revisions but none was verified: a failure has nothing to restore", opts.Release, len(revs))
	default:
		e.Log.Infof("release %s: revision %d is the last verified one (%d objects; %s)", opts.Release, pf.previous.Revision,
			len(pf.previous.Objects), joinOr(pf.previous.Images, "no images"))
		if pf.latest.Revision != pf.previous.Revision {
			e.Log.Warnf("the newest revision %d is %s (%s)", pf.latest.Revision, pf.latest.Status, pf.latest.Reason)
		}
	}
	return pf, nil
}

// release lets the lock go (pre-flight failed after taking it).
func (pf *preflight) release(ctx context.Context) {
	if pf.lock != nil {
		pf.lock.Release(context.WithoutCancel(ctx))
	}
}

func (e *Engine) allowed(ctx context.Context, a access) (bool, error) {
	r, err := e.Client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: a.namespace, Group: a.group, Resource: a.resource, Subresource: a.sub, Verb: a.verb}}}, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return r.Status.Allowed, nil
}
