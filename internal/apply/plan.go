package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/org/erlmcp-deploy/internal/history"
	"github.com/org/erlmcp-deploy/internal/inventory"
	"github.com/org/erlmcp-deploy/internal/manifest"
	"github.com/org/erlmcp-deploy/internal/rollout"
)

// Actions of an object in a plan.
const (
	ActionCreate    = "create"
	ActionConfigure = "configure"
	ActionUnchanged = "unchanged"
	ActionPrune     = "prune"
)

// planned is one object of the plan.
type planned struct {
	obj manifest.Object
	// index is the object's place in the set.
	index   int
	name    string
	action  string
	changes []manifest.Change
	// dry is the object as the server would store it (nil when deferred).
	dry *unstructured.Unstructured
	// deferred: its namespace is created by this release, so the dry run
	// runs only once that namespace exists.
	deferred bool
}

// plan is what applying the set would do.
type plan struct {
	entries []planned
	// prune are objects of the release's last revisions that left the set.
	prune []inventory.Ref
}

func (p *plan) unchanged() bool {
	for _, e := range p.entries {
		if e.action != ActionUnchanged {
			return false
		}
	}
	return len(p.prune) == 0
}

func (p *plan) objects(ns string) []Object {
	var out []Object
	for _, e := range p.entries {
		out = append(out, Object{Name: e.name, Source: e.obj.Source.String(), Action: e.action, Changes: e.changes})
	}
	for _, r := range p.prune {
		out = append(out, Object{Name: refName(r, ns), Action: ActionPrune})
	}
	return out
}

// resource is the dynamic client of the i-th object of the set.
func (e *Engine) resource(s *set, i int) dynamic.ResourceInterface {
	r := e.Dynamic.Resource(s.mappings[i].Resource)
	if ns := s.objects[i].GetNamespace(); ns != "" {
		return r.Namespace(ns)
	}
	return r
}

// plan dry-runs every object server-side (strict field validation, no
// forced ownership, so another manager's fields are reported as conflicts)
// and lists what would change and what would be pruned.
func (e *Engine) plan(ctx context.Context, opts Options, s *set, pf *preflight) (*plan, error) {
	p := &plan{}
	var problems []*manifest.Error
	for i, o := range s.objects {
		name := shortName(o.GetKind(), o.GetNamespace(), o.GetName(), opts.Namespace)
		entry := planned{obj: o, index: i, name: name}
		res := e.resource(s, i)
		live, err := res.Get(ctx, o.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			live = nil
			if ns := o.GetNamespace(); ns != "" && s.namespaces[ns] {
				if _, err := e.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); apierrors.IsNotFound(err) {
					entry.deferred, entry.action = true, ActionCreate
					p.entries = append(p.entries, entry)
					continue
				}
			}
		case err != nil:
			return p, fmt.Errorf("read %s: %w (nothing was changed)", name, err)
		}
		dry, err := e.dryRun(ctx, res, o.Unstructured, opts.ForceConflicts)
		if err != nil {
			problems = append(problems, describeApplyError(o, name, err))
			continue
		}
		entry.dry = dry
		switch {
		case live == nil:
			entry.action = ActionCreate
		default:
			entry.changes = manifest.Diff(live, dry)
			if onlyChangeCause(entry.changes) {
				// A re-deploy of the same release would change nothing but the change-cause
				// (it names the run): keep the live one, so the release is unchanged.
				keepLiveChangeCause(o.Unstructured, live)
				entry.changes = nil
			}
			entry.action = ActionConfigure
			if len(entry.changes) == 0 {
				entry.action = ActionUnchanged
			}
		}
		p.entries = append(p.entries, entry)
	}
	if len(problems) > 0 {
		return p, &InputError{Input: "manifests", Problems: problems}
	}
	prune, err := e.pruneCandidates(ctx, opts, s, pf)
	if err != nil {
		return p, err
	}
	p.prune = prune
	e.logPlan(p, opts.Namespace)
	return p, nil
}

// dryRun applies o server-side in dry-run mode. A conflict with a field
// manager other than ours is an error unless force is set.
func (e *Engine) dryRun(ctx context.Context, res dynamic.ResourceInterface, o *unstructured.Unstructured, force bool) (*unstructured.Unstructured, error) {
	data, err := json.Marshal(o.Object)
	if err != nil {
		return nil, err
	}
	apply := func(force bool) (*unstructured.Unstructured, error) {
		return res.Patch(ctx, o.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{
			FieldManager: owner.Field, Force: &force, DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"})
	}
	dry, err := apply(false)
	if err == nil || !apierrors.IsConflict(err) {
		return dry, err
	}
	if others := foreignManagers(err); len(others) == 0 || force {
		if len(others) > 0 {
			e.Log.Warnf("force-conflicts: %s takes over fields from %s", o.GetKind()+"/"+o.GetName(), strings.Join(others, ", "))
		}
		return apply(true)
	}
	return nil, err
}

// foreignManagers are the other field managers an apply conflict names
// (our own manager's Update entries are not a conflict worth stopping for).
func foreignManagers(err error) []string {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil {
		return []string{"another field manager"}
	}
	seen := map[string]bool{}
	var out []string
	for _, c := range status.Status().Details.Causes {
		m := managerOf(c.Message)
		if m == rollout.FieldManager || seen[m] {
			continue
		}
		seen[m] = true
		out = append(out, m)
	}
	return out
}

// managerOf reads the manager out of `conflict with "kubectl" using apps/v1`.
func managerOf(msg string) string {
	if _, rest, ok := strings.Cut(msg, `conflict with "`); ok {
		if m, _, ok := strings.Cut(rest, `"`); ok {
			return m
		}
	}
	return msg
}

// describeApplyError says what is wrong with one object, where it came from.
func describeApplyError(o manifest.Object, name string, err error) *manifest.Error {
	var status apierrors.APIStatus
	msg := err.Error()
	if errors.As(err, &status) {
		st := status.Status()
		msg = st.Message
		if apierrors.IsConflict(err) && st.Details != nil {
			var fields []string
			for _, c := range st.Details.Causes {
				fields = append(fields, fmt.Sprintf("%s (%s)", c.Field, c.Message))
			}
			msg = fmt.Sprintf("fields owned by another field manager: %s; if erlmcp-deploy now owns these manifests, set force-conflicts: true to take them over",
				strings.Join(fields, ", "))
		}
		if apierrors.IsForbidden(err) {
			msg += " (see examples/kubernetes/rbac.yaml)"
		}
	}
	return &manifest.Error{File: o.Source.File, Line: o.Source.Line, Msg: name + ": " + msg}
}

// pruneCandidates are the live objects of the release's last revisions
// (the newest and the last verified one) that the set no longer holds.
// Namespaces and CRDs are never pruned: deleting one deletes everything in it.
// An object that cannot be read stops the plan (nothing was changed): it
// might be the release's, and a prune that silently skips it leaves it
// behind for good; only a kind the cluster no longer serves is skipped, said.
func (e *Engine) pruneCandidates(ctx context.Context, opts Options, s *set, pf *preflight) ([]inventory.Ref, error) {
	if !opts.Prune {
		return nil, nil
	}
	var old []inventory.Ref
	for _, r := range []*inventory.Release{pf.latest, pf.previous} {
		if r != nil {
			old = append(old, r.Objects...)
		}
	}
	_, gone, _ := inventory.Diff(old, s.refs())
	seen := map[string]bool{}
	var out []inventory.Ref
	for _, r := range gone {
		if seen[r.Key()] {
			continue
		}
		seen[r.Key()] = true
		if r.Kind == "Namespace" || r.Kind == "CustomResourceDefinition" {
			e.Log.Warnf("%s left the release but is not pruned: deleting it would delete everything in it; delete it by hand if it is no longer needed", refName(r, opts.Namespace))
			continue
		}
		live, err := e.get(ctx, r)
		switch {
		case meta.IsNoMatchError(err):
			e.Log.Warnf("%s left the release but is not pruned: the cluster no longer serves its kind (%v)", refName(r, opts.Namespace), err)
			continue
		case err != nil:
			return nil, fmt.Errorf("read %s, which left the release, to prune it: %w (nothing was changed)", refName(r, opts.Namespace), err)
		case live == nil:
			continue
		}
		if live.GetLabels()[LabelGroup+"/name"] != opts.Release {
			e.Log.Warnf("%s left the release but is not pruned: it does not carry the release's label (someone else owns it now)", refName(r, opts.Namespace))
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// get reads the object a Ref names (nil, nil when it does not exist).
func (e *Engine) get(ctx context.Context, r inventory.Ref) (*unstructured.Unstructured, error) {
	res, err := e.refResource(r)
	if err != nil {
		return nil, err
	}
	u, err := res.Get(ctx, r.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return u, err
}

func (e *Engine) refResource(r inventory.Ref) (dynamic.ResourceInterface, error) {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(r.APIVersion)
	u.SetKind(r.Kind)
	gvk := u.GroupVersionKind()
	m, err := e.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("kind of %s: %w", r, err)
	}
	if r.Namespace != "" {
		return e.Dynamic.Resource(m.Resource).Namespace(r.Namespace), nil
	}
	return e.Dynamic.Resource(m.Resource), nil
}

func (e *Engine) logPlan(p *plan, ns string) {
	unchanged := 0
	for _, en := range p.entries {
		switch en.action {
		case ActionUnchanged:
			unchanged++
		case ActionCreate:
			note := ""
			if en.deferred {
				note = " (validated once its namespace exists)"
			}
			e.Log.Infof("create %s (%s)%s", en.name, en.obj.Source, note)
		case ActionConfigure:
			lines := []string{"configure " + en.name + ":"}
			for _, c := range en.changes {
				lines = append(lines, "    "+DescribeChange(c))
			}
			e.Log.Infof("%s", strings.Join(lines, "\n"))
		}
	}
	for _, r := range p.prune {
		e.Log.Infof("prune %s (no longer in the manifests)", refName(r, ns))
	}
	if unchanged > 0 {
		e.Log.Infof("%d objects unchanged", unchanged)
	}
}

// DescribeChange is one changed field: "path: from → to" (+ added, − removed).
func DescribeChange(c manifest.Change) string {
	switch {
	case c.From == "":
		return c.Path + ": + " + c.To
	case c.To == "":
		return c.Path + ": − " + c.From
	}
	return c.Path + ": " + c.From + " → " + c.To
}

// changeCausePath is the change-cause annotation as manifest.Diff names it.
var changeCausePath = "metadata.annotations." + history.ChangeCauseAnnotation

// onlyChangeCause reports whether the one change is the change-cause's value.
func onlyChangeCause(changes []manifest.Change) bool {
	return len(changes) == 1 && changes[0].Path == changeCausePath && changes[0].From != "" && changes[0].To != ""
}

// keepLiveChangeCause sets o's change-cause to live's.
func keepLiveChangeCause(o, live *unstructured.Unstructured) {
	ann := o.GetAnnotations()
	ann[history.ChangeCauseAnnotation] = live.GetAnnotations()[history.ChangeCauseAnnotation]
	o.SetAnnotations(ann)
}
