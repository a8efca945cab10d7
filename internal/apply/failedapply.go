package apply

import (
	"context"
	"fmt"
	"slices"

	"github.com/fluxcd/pkg/ssa"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/org/erlmcp-deploy/internal/manifest"
)

// What a failed apply did to one planned object, read back afterwards.
const (
	// didNothing: the object is as the plan found it.
	didNothing = ""
	// didCreate: the plan found no object, and now ours exists.
	didCreate = "created"
	// didConfigure: the object moved from what the plan found.
	didConfigure = "configured"
	// didForeign: the plan found no object, and now someone else's exists.
	didForeign = "created by another writer"
)

// classify says what a failed apply did to one planned object, given the
// object as read back now (nil: absent): a pure function. A planned create
// that now exists is ours only when our field manager applied it. A planned
// configure counts as done when the changes the plan foresaw are no longer
// the ones the dry run's object makes to the live one — the apply moved it
// (re-applying the previous revision puts back what it changed, and leaves
// an untouched object unchanged, so an over-count costs nothing).
func classify(en planned, live *unstructured.Unstructured) string {
	switch en.action {
	case ActionCreate:
		switch {
		case live == nil:
			return didNothing
		case appliedAt(live.GetManagedFields()).IsZero():
			return didForeign
		}
		return didCreate
	case ActionConfigure:
		if live == nil || en.dry == nil {
			return didNothing
		}
		if sameChanges(manifest.Diff(live, en.dry), en.changes) {
			return didNothing
		}
		return didConfigure
	}
	return didNothing
}

// sameChanges reports whether a and b list the same changes.
func sameChanges(a, b []manifest.Change) bool {
	return slices.EqualFunc(a, b, func(x, y manifest.Change) bool { return x == y })
}

// leftover is an object a failed apply created: deleted again by its UID,
// so an object someone else made under the same name meanwhile stays.
type leftover struct {
	name  string
	index int
	uid   types.UID
	// scope orders the deletes: namespaced objects, cluster-scoped ones, Namespaces.
	scope int
}

// readBack is what a failed apply did: the objects it created (from ssa's
// ChangeSet for the stages that finished, read back for the one that
// failed, whose ChangeSet ssa does not return) and those it configured.
type readBack struct {
	created    []leftover
	configured []string
	foreign    []string
}

// readBack reads every object the plan would create or configure.
func (e *Engine) readBack(ctx context.Context, opts Options, s *set, p *plan, a *applied) (readBack, error) {
	var rb readBack
	for _, en := range p.entries {
		if en.action != ActionCreate && en.action != ActionConfigure {
			continue
		}
		live, err := e.resource(s, en.index).Get(ctx, en.obj.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			live = nil
		case err != nil:
			return rb, fmt.Errorf("read %s back: %w", en.name, err)
		}
		did := classify(en, live)
		if a.actions[en.name] == string(ssa.CreatedAction) && live != nil {
			did = didCreate // ssa said so (a stage that finished)
		}
		switch did {
		case didCreate:
			scope := 0
			switch {
			case isNamespace(en.obj.Unstructured):
				scope = 2
			case en.obj.GetNamespace() == "":
				scope = 1
			}
			rb.created = append(rb.created, leftover{name: en.name, index: en.index, uid: live.GetUID(), scope: scope})
		case didConfigure:
			rb.configured = append(rb.configured, en.name)
		case didForeign:
			rb.foreign = append(rb.foreign, en.name)
		}
	}
	slices.SortStableFunc(rb.created, func(x, y leftover) int { return x.scope - y.scope })
	return rb, nil
}

// deleteCreated deletes what a failed apply created, Namespaces last (an
// object in a namespace that goes too is deleted with it); it returns the
// names deleted and the failures.
func (e *Engine) deleteCreated(ctx context.Context, s *set, created []leftover) (deleted, failed []string) {
	ctx = context.WithoutCancel(ctx)
	goes := map[string]bool{}
	for _, c := range created {
		if c.scope == 2 {
			goes[s.objects[c.index].GetName()] = true
		}
	}
	for _, c := range created {
		o := s.objects[c.index]
		if ns := o.GetNamespace(); ns != "" && goes[ns] {
			deleted = append(deleted, c.name)
			continue
		}
		uid := c.uid
		err := e.resource(s, c.index).Delete(ctx, o.GetName(), metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid},
			PropagationPolicy: ptrTo(metav1.DeletePropagationBackground)})
		if err != nil && !apierrors.IsNotFound(err) {
			failed = append(failed, fmt.Sprintf("%s (%v)", c.name, err))
			continue
		}
		deleted = append(deleted, c.name)
	}
	return deleted, failed
}

func ptrTo[T any](v T) *T { return &v }

// names lists the leftovers' names.
func names(l []leftover) []string {
	out := make([]string, len(l))
	for i, c := range l {
		out[i] = c.name
	}
	return out
}
