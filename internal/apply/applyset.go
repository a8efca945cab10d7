package apply

import (
	"context"
	"fmt"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/pkg/ssa"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/org/erlmcp-deploy/internal/history"
	"github.com/org/erlmcp-deploy/internal/inventory"
	"github.com/org/erlmcp-deploy/internal/rollout"
	"github.com/org/erlmcp-deploy/internal/verify"
)

// applied is what the apply step changed and what to verify.
type applied struct {
	// actions by object name: created, configured, unchanged, pruned.
	actions map[string]string
	order   []string
	members []verify.Member
	// createdRefs are objects this apply created (a rollback deletes them).
	createdRefs []inventory.Ref
}

func (a *applied) changedAny() bool {
	for _, act := range a.actions {
		if act != string(ssa.UnchangedAction) {
			return true
		}
	}
	return false
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
		if act, ok := a.actions[objs[i].Name]; ok {
			objs[i].Action = act
		}
		objs[i].State = state[objs[i].Name]
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

func (e *Engine) manager() *ssa.ResourceManager {
	m := ssa.NewResourceManager(e.Objects, polling.NewStatusPoller(e.Objects, e.Mapper, polling.Options{}), owner)
	m.SetConcurrency(4)
	return m
}

// apply applies the set in dependency order (Namespaces and CRDs first),
// prunes what left it, and returns the members to verify. When objects in
// a namespace this release creates fail their apply, the namespaces it
// created are deleted again, so a bad release changes nothing.
func (e *Engine) apply(ctx context.Context, opts Options, s *set, p *plan, pf *preflight) (*applied, error) {
	a := &applied{actions: map[string]string{}}
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
		if undone := e.undoNamespaces(ctx, a); undone != "" {
			return a, fmt.Errorf("apply: %w; %s", err, undone)
		}
		return a, fmt.Errorf("apply: %w", err)
	}
	e.Log.Infof("applied %d objects in %s", len(s.objects), e.now().Sub(start).Round(10*time.Millisecond))
	for _, r := range p.prune {
		deleted, err := deleteOwned(ctx, mgr, r, opts.Release, opts.Namespace)
		if err != nil {
			return a, fmt.Errorf("prune %s: %w", refName(r, opts.Namespace), err)
		}
		a.actions[refName(r, opts.Namespace)] = "pruned"
		if deleted {
			e.Log.Infof("pruned %s", refName(r, opts.Namespace))
		}
	}
	members, err := e.members(ctx, opts, s, a)
	a.members = members
	return a, err
}

// deleteOwned deletes the object r names if it carries the release's labels
// (so prune and restore never delete what someone else owns); it reports
// whether it deleted it.
func deleteOwned(ctx context.Context, mgr *ssa.ResourceManager, r inventory.Ref, release, ns string) (bool, error) {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(r.APIVersion)
	u.SetKind(r.Kind)
	u.SetNamespace(r.Namespace)
	u.SetName(r.Name)
	en, err := mgr.Delete(ctx, u, ssa.DeleteOptions{PropagationPolicy: metav1.DeletePropagationBackground,
		Inclusions: mgr.GetOwnerLabels(release, ns)})
	if err != nil {
		return false, err
	}
	return en.Action == ssa.DeletedAction, nil
}

// undoNamespaces deletes the namespaces a failed apply created.
func (e *Engine) undoNamespaces(ctx context.Context, a *applied) string {
	var undone []string
	for _, r := range a.createdRefs {
		if r.Kind != "Namespace" {
			continue
		}
		if err := e.Client.CoreV1().Namespaces().Delete(context.WithoutCancel(ctx), r.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Sprintf("namespace %s, which this apply created, could not be deleted: %v", r.Name, err)
		}
		undone = append(undone, r.Name)
	}
	if len(undone) == 0 {
		return ""
	}
	return "deleted the namespaces this apply had created (" + joinOr(undone, "") + "): nothing was changed"
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
