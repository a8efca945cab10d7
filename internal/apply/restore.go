package apply

import (
	"context"
	"fmt"
	"time"

	"github.com/fluxcd/pkg/ssa"

	"github.com/org/erlmcp-deploy/internal/inventory"
	"github.com/org/erlmcp-deploy/internal/manifest"
	"github.com/org/erlmcp-deploy/internal/verify"
)

// RestoreOptions say which revision of a release to put back.
type RestoreOptions struct {
	Options
	// Target is the revision to restore.
	Target *inventory.Release
	// From is the revision being left (for the log and the record).
	From int
	// Delete are objects that are not in Target and must go (those the
	// failed revision created); they are deleted only when they carry the
	// release's labels.
	Delete []inventory.Ref
}

// Restored is what a restore did.
type Restored struct {
	// Revision records the restore (a new revision holding Target's manifests).
	Revision   int
	Outcome    verify.SetOutcome
	Conclusion verify.Conclusion
	Objects    []Object
}

// Restore puts a revision back as a whole: re-apply its manifests (which
// re-creates what was pruned since), delete the objects it does not hold,
// and verify the set like any release (health check included). The restore
// is recorded as a new revision, deployed when it verified.
func (e *Engine) Restore(ctx context.Context, ro RestoreOptions) (*Restored, error) {
	r := &Restored{}
	t := ro.Target
	objs, err := manifest.Decode(t.Manifests)
	if err != nil {
		return r, fmt.Errorf("read the manifests of revision %d: %w", t.Revision, err)
	}
	mobjs := make([]manifest.Object, len(objs))
	for i, u := range objs {
		mobjs[i] = manifest.Object{Unstructured: u, Source: manifest.Source{File: inventory.SecretName(t.Name, t.Revision)}}
	}
	s, err := e.resolve(ro.Options, mobjs)
	if err != nil {
		return r, fmt.Errorf("revision %d: %w", t.Revision, err)
	}
	// The recorded manifests hold no change-cause (older revisions' do, the
	// same one): the Deployments get the restored revision's own.
	setChangeCause(s.objects, t.Cause)
	rec := &inventory.Release{Name: t.Name, Status: inventory.Pending, Images: t.Images, Objects: t.Objects, Manifests: t.Manifests,
		Cause: fmt.Sprintf("rollback from revision %d to revision %d", ro.From, t.Revision), RolledBackFrom: t.Revision}
	if err := e.store(ro.Namespace).Create(ctx, rec); err != nil {
		return r, fmt.Errorf("record the rollback: %w", err)
	}
	r.Revision = rec.Revision

	end := e.Log.Group(fmt.Sprintf("Restore revision %d of release %s (%d objects)", t.Revision, t.Name, len(s.objects)))
	mgr := e.manager()
	start := e.now()
	cs, err := mgr.ApplyAllStaged(ctx, s.unstructured(), ssa.ApplyOptions{WaitInterval: time.Second, WaitTimeout: 60 * time.Second})
	a := newApplied()
	if cs != nil {
		for _, en := range cs.Entries {
			name := shortName(en.ObjMetadata.GroupKind.Kind, en.ObjMetadata.Namespace, en.ObjMetadata.Name, ro.Namespace)
			a.actions[name] = string(en.Action)
			if en.Action != ssa.UnchangedAction {
				e.Log.Infof("%s %s", en.Action, name)
			}
		}
	}
	if err != nil {
		end()
		e.markFailed(ctx, ro.Options, rec.Revision, err.Error())
		return r, fmt.Errorf("re-apply revision %d: %w", t.Revision, err)
	}
	keep := map[string]bool{}
	for _, ref := range t.Objects {
		keep[ref.Key()] = true
	}
	for _, ref := range ro.Delete {
		if keep[ref.Key()] {
			continue
		}
		act, err := deleteOwned(ctx, mgr, ref, t.Name, ro.Namespace)
		if err != nil {
			end()
			e.markFailed(ctx, ro.Options, rec.Revision, err.Error())
			return r, fmt.Errorf("delete %s: %w", refName(ref, ro.Namespace), err)
		}
		if act == ssa.DeletedAction {
			a.actions[refName(ref, ro.Namespace)] = actionDeleted
			e.Log.Infof("deleted %s (not in revision %d)", refName(ref, ro.Namespace), t.Revision)
		}
	}
	if err := e.unstick(ctx, s); err != nil {
		end()
		e.markFailed(ctx, ro.Options, rec.Revision, err.Error())
		return r, err
	}
	e.Log.Infof("revision %d re-applied in %s", t.Revision, e.now().Sub(start).Round(10*time.Millisecond))
	members, err := e.members(ctx, ro.Options, s, a)
	end()
	if err != nil {
		e.markFailed(ctx, ro.Options, rec.Revision, err.Error())
		return r, err
	}
	out, err := e.verifier(ro.Options, fmt.Sprintf("Verify the restored revision %d", t.Revision)).RunSet(ctx, members, e.now().Add(ro.Timeout))
	r.Outcome = out
	for _, m := range out.Members {
		act := a.actions[m.Name]
		if act == "" {
			act = string(ssa.UnchangedAction)
		}
		r.Objects = append(r.Objects, Object{Name: m.Name, Action: act, State: memberState(m)})
	}
	if err != nil {
		return r, err
	}
	r.Conclusion = verify.ConcludeSet(out)
	if r.Conclusion.Kind != verify.Verified {
		e.markFailed(ctx, ro.Options, rec.Revision, r.Conclusion.Reason)
		return r, fmt.Errorf("revision %d did not verify: %s", t.Revision, r.Conclusion.Reason)
	}
	markVerified(ctx, e, out)
	if err := e.recordDeployed(ctx, ro.Namespace, t.Name, rec.Revision); err != nil {
		// Revision t stays the one recorded as deployed: it holds the same manifests.
		e.Log.Warnf("the restore verified, but recording revision %d as deployed failed (%v): revision %d, which holds the same manifests, stays the recorded verified one",
			rec.Revision, err, t.Revision)
	}
	return r, nil
}
