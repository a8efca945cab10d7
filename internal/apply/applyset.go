package apply

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/cli-utils/pkg/kstatus/polling/clusterreader"
	"github.com/fluxcd/cli-utils/pkg/kstatus/polling/engine"
	"github.com/fluxcd/pkg/ssa"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/org/erlmcp-deploy/internal/history"
	"github.com/org/erlmcp-deploy/internal/inventory"
	"github.com/org/erlmcp-deploy/internal/rollout"
	"github.com/org/erlmcp-deploy/internal/verify"
)

// applied is what the apply step changed and what to verify.
type applied struct {
	// actions by object name: created, configured, unchanged, pruned, not
	// pruned, deleted; states, when set, say more than the verdict.
	actions map[string]string
	states  map[string]string
	order   []string
	members []verify.Member
	// createdRefs are objects this apply created (a rollback deletes them).
	createdRefs []inventory.Ref
}

func newApplied() *applied {
	return &applied{actions: map[string]string{}, states: map[string]string{}}
}

func (a *applied) created() []inventory.Ref { return a.createdRefs }

// objects merges the plan, what was applied and (when given) the verdicts.
func (a *applied) objects(p *plan, ns string, outs ...verify.SetOutcome) []Object {
	objs := p.objects(ns)
	state := map[string]string{}
	for _, o := range outs {
		for _, m := range o.Members {
			state[m.Name] = memberState(m)
		}
	}
	for i := range objs {
		act, ok := a.actions[objs[i].Name]
		switch {
		case ok:
			objs[i].Action = act
		case objs[i].Action == ActionPrune:
			// Prune waits for a verified release.
			objs[i].Action, objs[i].State = actionNotPruned, "kept: the release did not verify"
		}
		if st, ok := state[objs[i].Name]; ok {
			objs[i].State = st
		}
		if st, ok := a.states[objs[i].Name]; ok {
			objs[i].State = st
		}
	}
	return objs
}

func memberState(m verify.MemberOutcome) string {
	switch {
	case m.Stopped:
		return "not waited for (another object failed)"
	case m.Verdict.Phase == rollout.Failed:
		return "failed: " + m.Verdict.Message
	case m.Verdict.Phase == rollout.Succeeded:
		return "ready"
	}
	return "in progress: " + m.Verdict.Message
}

// manager is the ssa engine. Its wait for the first stage (Namespaces,
// CRDs, ClusterRoles) reads each object by name: the default caching
// reader lists the kind cluster-wide, which a deploy identity that may read
// only its own namespace (rbac-namespace.yaml) may not.
func (e *Engine) manager() *ssa.ResourceManager {
	poller := polling.NewStatusPoller(e.Objects, e.Mapper, polling.Options{
		ClusterReaderFactory: engine.ClusterReaderFactoryFunc(clusterreader.NewDirectClusterReader)})
	m := ssa.NewResourceManager(e.Objects, poller, owner)
	m.SetConcurrency(4)
	return m
}

// apply applies the set in dependency order (Namespaces and CRDs first)
// and returns the members to verify. Nothing is pruned here: prune waits
// for the new set's verdict (Engine.prune), so a restore never has to
// re-create a pruned object. A failed apply's ChangeSet lacks the stage it
// failed in: what it did there is read back by Engine.readBack.
func (e *Engine) apply(ctx context.Context, opts Options, s *set) (*applied, error) {
	a := newApplied()
	mgr := e.manager()
	start := e.now()
	cs, err := mgr.ApplyAllStaged(ctx, s.unstructured(), ssa.ApplyOptions{WaitInterval: time.Second, WaitTimeout: 60 * time.Second})
	if cs != nil {
		for _, en := range cs.Entries {
			name := shortName(en.ObjMetadata.GroupKind.Kind, en.ObjMetadata.Namespace, en.ObjMetadata.Name, opts.Namespace)
			a.actions[name] = string(en.Action)
			a.order = append(a.order, name)
			if en.Action == ssa.CreatedAction {
				a.createdRefs = append(a.createdRefs, inventory.Ref{APIVersion: apiVersion(en.ObjMetadata.GroupKind.Group, en.GroupVersion),
					Kind: en.ObjMetadata.GroupKind.Kind, Namespace: en.ObjMetadata.Namespace, Name: en.ObjMetadata.Name})
			}
			if en.Action != ssa.UnchangedAction {
				e.Log.Infof("%s %s", en.Action, name)
			}
		}
	}
	if err != nil {
		return a, fmt.Errorf("apply: %w", err)
	}
	e.Log.Infof("applied %d objects in %s", len(s.objects), e.now().Sub(start).Round(10*time.Millisecond))
	members, err := e.members(ctx, opts, s, a)
	a.members = members
	return a, err
}

// Actions of an object besides ssa's (created, configured, unchanged).
const (
	actionPruned    = "pruned"
	actionNotPruned = "not pruned"
	actionDeleted   = "deleted"
)

// prune deletes what left the release (p.prune) once the new set verified.
// An object ssa skips (it no longer carries the release's labels) is "not
// pruned", and so is one whose delete fails: that one stays an object of
// revision (inventory), so the next deploy prunes it again. The warnings
// name each one.
func (e *Engine) prune(ctx context.Context, opts Options, p *plan, a *applied, revision int) {
	if len(p.prune) == 0 {
		return
	}
	end := e.Log.Group(fmt.Sprintf("Prune what left release %s (%d objects)", opts.Release, len(p.prune)))
	defer end()
	mgr := e.manager()
	var kept []inventory.Ref
	for _, r := range p.prune {
		name := refName(r, opts.Namespace)
		act, err := deleteOwned(ctx, mgr, r, opts.Release, opts.Namespace)
		a.actions[name], a.states[name] = pruneOutcome(act, err)
		switch {
		case err != nil:
			kept = append(kept, r)
			e.Log.Warnf("%s was not pruned: %v", name, err)
		case act == ssa.SkippedAction:
			e.Log.Warnf("%s was not pruned: it no longer carries the release's label (someone else owns it now)", name)
		default:
			e.Log.Infof("pruned %s", name)
		}
	}
	if len(kept) == 0 {
		return
	}
	var names []string
	for _, r := range kept {
		names = append(names, refName(r, opts.Namespace))
	}
	if err := e.store(opts.Namespace).AddObjects(context.WithoutCancel(ctx), opts.Release, revision, kept); err != nil {
		e.Log.Warnf("%s could not be pruned and could not be kept in revision %d (%v): delete them by hand", strings.Join(names, ", "), revision, err)
		return
	}
	e.Log.Warnf("%s could not be pruned: revision %d keeps them, so the next deploy prunes them again (or delete them by hand)", strings.Join(names, ", "), revision)
}

// pruneOutcome is a prune's action and state for the objects output.
func pruneOutcome(act ssa.Action, err error) (action, state string) {
	switch {
	case err != nil:
		return actionNotPruned, "delete failed: " + err.Error()
	case act == ssa.SkippedAction:
		return actionNotPruned, "no longer carries the release's label"
	}
	return actionPruned, ""
}

// deleteOwned deletes the object r names if it carries the release's labels
// (so prune and restore never delete what someone else owns); the action
// is ssa's: deleted (also when it was gone already), or skipped.
func deleteOwned(ctx context.Context, mgr *ssa.ResourceManager, r inventory.Ref, release, ns string) (ssa.Action, error) {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(r.APIVersion)
	u.SetKind(r.Kind)
	u.SetNamespace(r.Namespace)
	u.SetName(r.Name)
	en, err := mgr.Delete(ctx, u, ssa.DeleteOptions{PropagationPolicy: metav1.DeletePropagationBackground,
		Inclusions: mgr.GetOwnerLabels(release, ns)})
	if err != nil {
		return ssa.UnknownAction, err
	}
	return en.Action, nil
}

// members are the set's objects to verify, each as our change returned it.
func (e *Engine) members(ctx context.Context, opts Options, s *set, a *applied) ([]verify.Member, error) {
	var out []verify.Member
	for i, o := range s.objects {
		name := shortName(o.GetKind(), o.GetNamespace(), o.GetName(), opts.Namespace)
		changed := a.actions[name] != string(ssa.UnchangedAction)
		if o.GroupVersionKind().Group == "apps" && o.GetKind() == "Deployment" {
			d, err := e.Client.AppsV1().Deployments(o.GetNamespace()).Get(ctx, o.GetName(), metav1.GetOptions{})
			if err != nil {
				return out, fmt.Errorf("read %s after the apply: %w", name, err)
			}
			m := verify.Member{Name: name, Deployment: d}
			if changed {
				m.Since = appliedAt(d.ManagedFields)
			}
			out = append(out, m)
			continue
		}
		w := &rollout.ObjectWatch{Resource: e.resource(s, i), Client: e.Client, Name: o.GetName()}
		if changed {
			if live, err := w.Resource.Get(ctx, o.GetName(), metav1.GetOptions{}); err == nil {
				w.Since = appliedAt(live.GetManagedFields())
			}
		}
		out = append(out, verify.Member{Name: name, Object: w})
	}
	return out, nil
}

// appliedAt is the API server's time of our last apply, from managedFields.
func appliedAt(fields []metav1.ManagedFieldsEntry) time.Time {
	var t time.Time
	for _, f := range fields {
		if f.Manager == owner.Field && f.Operation == metav1.ManagedFieldsOperationApply && f.Time != nil && f.Time.After(t) {
			t = f.Time.Time
		}
	}
	return t
}

func apiVersion(group, version string) string {
	if group == "" {
		return version
	}
	return group + "/" + version
}

// markVerified records every Deployment's new revision as verified, so the
// image rollback action's last-successful agrees with the release.
func markVerified(ctx context.Context, e *Engine, out verify.SetOutcome) {
	for _, m := range out.Members {
		if rs := m.Result.NewReplicaSet; rs != nil {
			if err := history.MarkSuccessful(ctx, e.Client, rs, e.now()); err != nil {
				e.Log.Warnf("%v", err)
			}
		}
	}
}

// markFailedRevisions records the failed Deployment's new revision as failed.
func markFailedRevisions(ctx context.Context, e *Engine, out *verify.SetOutcome, why string) {
	if f := out.Failed(); f != nil && f.Result.NewReplicaSet != nil {
		if err := history.MarkFailed(context.WithoutCancel(ctx), e.Client, f.Result.NewReplicaSet, e.now(), why); err != nil {
			e.Log.Warnf("%v", err)
		}
	}
}
