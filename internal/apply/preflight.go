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
	// created is the release's namespace when this deploy created it
	// (nil otherwise): a failure before the release serves deletes it again.
	created *createdNamespace
}

// access is one verb on one resource in one namespace ("" = cluster-scoped),
// of one object when name is set.
type access struct {
	group, resource, sub, namespace, name, verb string
	optional                                    bool
}

func (a access) String() string {
	r := a.resource
	if a.group != "" {
		r += "." + a.group
	}
	if a.sub != "" {
		r += "/" + a.sub
	}
	if a.name != "" {
		r += " " + a.name
	}
	if a.namespace == "" {
		return a.verb + " " + r + " (cluster-wide)"
	}
	return a.verb + " " + r
}

// createsNamespace reports whether a is the verb that creates a namespace.
func (a access) createsNamespace() bool {
	return a.group == "" && a.resource == "namespaces" && a.verb == "create"
}

// accesses are the verbs a release deploy needs: apply (get, create, patch)
// every object, delete them for prune and rollback, read and record the
// inventory, hold the lock, and watch the workloads. A Namespace is checked
// by its name (a Role may name the namespaces it grants); createNS adds the
// delete of the release's namespace, which this deploy creates and deletes
// again if it fails before the release serves.
func accesses(opts Options, s *set, createNS bool) []access {
	seen := map[access]bool{}
	var out []access
	add := func(a access) {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	verbs := []string{"get", "create", "patch"}
	if opts.Prune || opts.RollbackOnFailure {
		verbs = append(verbs, "delete")
	}
	for i, m := range s.mappings {
		ns := ""
		if m.Scope.Name() == "namespace" {
			ns = opts.Namespace
		}
		for _, v := range verbs {
			a := access{group: m.Resource.Group, resource: m.Resource.Resource, namespace: ns, verb: v}
			if isNamespace(s.objects[i].Unstructured) && v != "create" {
				// RBAC cannot name the object of a create; the other verbs it can.
				a.name = s.objects[i].GetName()
			}
			add(a)
		}
	}
	if createNS {
		add(access{resource: "namespaces", name: opts.Namespace, verb: "delete"})
	}
	// Objects in other namespaces than the release's are checked there.
	for i, o := range s.objects {
		if ns := o.GetNamespace(); ns != "" && ns != opts.Namespace {
			m := s.mappings[i]
			for _, v := range verbs {
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

// preflight checks every permission, creates the release's namespace when
// the release holds it and it does not exist yet, takes the lock and reads
// the release's history. Whatever fails after the namespace was created
// deletes it again.
func (e *Engine) preflight(ctx context.Context, opts Options, s *set) (*preflight, error) {
	state, err := e.namespaceState(ctx, opts.Namespace)
	if err != nil {
		return nil, err
	}
	holds := s.namespaces[opts.Namespace]
	switch {
	case state == nsMissing && !holds:
		return nil, fmt.Errorf("namespace %s does not exist, and release %s does not hold it: create it first (as examples/kubernetes/namespace.yaml does), or add its Namespace to the manifests (nothing was changed)",
			opts.Namespace, opts.Release)
	case state == nsMissing && opts.DryRun:
		e.Log.Infof("namespace %s does not exist yet: the release creates it (not in a dry run)", opts.Namespace)
	}
	create := state == nsMissing && !opts.DryRun

	var missing, degraded []string
	createDenied := false
	list := accesses(opts, s, create)
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
			createDenied = createDenied || a.createsNamespace()
		}
	}
	sort.Strings(missing)
	if holds && state != nsExists && createDenied {
		return nil, namespaceDenied(opts.Namespace, state, missing)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the deploy identity lacks permissions in namespace %s: %s (see examples/kubernetes/rbac.yaml; nothing was changed)",
			opts.Namespace, strings.Join(missing, ", "))
	}
	if len(degraded) > 0 {
		e.Log.Warnf("without %s the diagnostics of a failed release will be incomplete (see examples/kubernetes/rbac.yaml)", strings.Join(degraded, ", "))
	}
	e.Log.Infof("permissions: ok (%d verbs checked)", len(list))

	pf := &preflight{}
	if create {
		if pf.created, err = e.createNamespace(ctx, opts, s); err != nil {
			return nil, err
		}
	}
	undo := func(err error) error { return e.undoNamespaceErr(ctx, pf, err) }
	if !opts.DryRun {
		ttl := opts.Timeout*2 + 5*time.Minute
		lk, err := lock.Acquire(ctx, e.Client, opts.Namespace, opts.Release,
			lock.Holder{ID: opts.Holder, Environment: opts.Environment, Action: "deploy", Target: "release " + opts.Release}, ttl, opts.Force)
		if err != nil {
			return nil, undo(err)
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
		return nil, undo(fmt.Errorf("read the history of release %s: %w", opts.Release, err))
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

// namespaceDenied is the error for a release that holds its namespace when
// the deploy identity may not create it (and the namespace is missing, or
// the identity may not even read it).
func namespaceDenied(ns string, state nsState, missing []string) error {
	what := fmt.Sprintf("namespace %s does not exist, and the deploy identity may not create it (create namespaces, cluster-wide, is not allowed)", ns)
	if state == nsUnknown {
		what = fmt.Sprintf("the deploy identity may neither read nor create namespace %s, which the release holds (get and create namespaces, cluster-wide, are not allowed)", ns)
	}
	var others []string
	for _, m := range missing {
		if !strings.HasPrefix(m, "create namespaces ") {
			others = append(others, m)
		}
	}
	also := ""
	if len(others) > 0 {
		also = "; also missing: " + strings.Join(others, ", ")
	}
	return fmt.Errorf("%s: a cluster admin creates the namespace and the deployer's Role once (examples/kubernetes/namespace.yaml and rbac.yaml), or grants the deployer examples/kubernetes/rbac-namespace.yaml%s (nothing was changed)",
		what, also)
}

// release lets the lock go (pre-flight failed after taking it, or the
// namespace that holds it is about to be deleted).
func (pf *preflight) release(ctx context.Context) {
	if pf.lock != nil {
		_ = pf.lock.Release(context.WithoutCancel(ctx))
		pf.lock = nil
	}
}

func (e *Engine) allowed(ctx context.Context, a access) (bool, error) {
	r, err := e.Client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: a.namespace, Group: a.group, Resource: a.resource, Subresource: a.sub, Name: a.name, Verb: a.verb}}}, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return r.Status.Allowed, nil
}
