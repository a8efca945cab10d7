package rollback

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/org/erlmcp-deploy/internal/apply"
	"github.com/org/erlmcp-deploy/internal/diagnose"
	"github.com/org/erlmcp-deploy/internal/inventory"
	"github.com/org/erlmcp-deploy/internal/lock"
	"github.com/org/erlmcp-deploy/internal/rollout"
	"github.com/org/erlmcp-deploy/internal/ui"
	"github.com/org/erlmcp-deploy/internal/verify"
)

// A manifest release (package apply) is rolled back as a whole: the target
// revision's recorded manifests are re-applied, the objects it does not hold
// are deleted, and the set is verified like a deploy (apply.Engine.Restore).
// Its history is the release inventory (package inventory), not ReplicaSets.

// ReleaseOptions are one release rollback's settings.
type ReleaseOptions struct {
	Environment string
	Namespace   string
	Release     string
	// To is previous, last-successful or a release revision number.
	To          string
	Timeout     time.Duration
	DryRun      bool
	Holder      string
	HealthCheck func(ctx context.Context) error
	// Rollout tunes the fail-fast watcher (FailFast is always on).
	Rollout rollout.Options
	// Mask is given the values of the Secrets in the manifests.
	Mask func(string)
}

// ReleaseResult is what a release rollback (or a listing) found and did.
type ReleaseResult struct {
	Status  Status
	Release string
	// History is the release's revisions, newest first.
	History []inventory.Release
	// FromRevision is the revision whose objects were live (the newest one).
	FromRevision int
	// Revision is the revision recorded by the restore (FromRevision when none was).
	Revision   int
	Target     *inventory.Release
	Images     []string
	FromImages []string
	// Objects are the restored objects (in a dry run: what would be done to them).
	Objects []apply.Object
	// Failed names the object whose verdict failed the restore.
	Failed      string
	Diagnostics *diagnose.Report
	Verdict     rollout.Verdict
	Duration    time.Duration
	DryRun      bool
	// Message says what happened in one line.
	Message string
}

// ReleaseRoller rolls manifest releases back.
type ReleaseRoller struct {
	Engine *apply.Engine
	Log    ui.Logger
	Now    func() time.Time
}

func (r *ReleaseRoller) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *ReleaseRoller) store(ns string) inventory.Store {
	return inventory.Store{Client: r.Engine.Client, Namespace: ns, Now: r.Now}
}

// List reads the release's history, newest first (empty when it has none).
func (r *ReleaseRoller) List(ctx context.Context, namespace, name string) ([]inventory.Release, error) {
	revs, err := r.store(namespace).List(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("read the history of release %s: %w", name, err)
	}
	return revs, nil
}

// ReleasePlan is what a release rollback will do.
type ReleasePlan struct {
	// Target is the revision to put back.
	Target *inventory.Release
	// Latest is the newest revision of any status: its objects are live.
	Latest *inventory.Release
	// Serving is the newest deployed (verified) revision (nil when none).
	Serving *inventory.Release
	// From is the revision being left (Latest's).
	From int
	// Unchanged: the newest revision is verified and holds Target's manifests.
	Unchanged bool
	// Delete are the live objects (of Latest and Serving) Target does not hold.
	Delete []inventory.Ref
	// MarkFailed are the revisions recorded as failed once the restore is
	// verified: the one serving (unless it is the target) and a pending newest one.
	MarkFailed []int
}

// ParseReleaseTo checks a release rollback's `to`: previous, last-successful
// or a revision number (0 for the first two). The error is for the `to` input.
func ParseReleaseTo(to string) (int, error) {
	switch to {
	case "", ToPrevious, ToLastSuccessful:
		return 0, nil
	}
	if n, err := strconv.Atoi(to); err == nil {
		if n < 1 {
			return 0, fmt.Errorf("revision %d does not exist: release revisions start at 1", n)
		}
		return n, nil
	}
	if strings.ContainsAny(to, ":@") {
		return 0, errors.New("an image only works for a Deployment; in release mode give a revision")
	}
	return 0, fmt.Errorf("%q is not previous, last-successful or a revision number", to)
}

// ResolveRelease picks the target of `to` from a release's history (newest
// first) and what restoring it means: a pure function.
//
//   - previous: the newest revision older than the one serving (the newest
//     deployed) that was once verified (superseded), skipping those that
//     hold the serving revision's manifests (an earlier restore of them);
//   - last-successful: the revision serving when the newest revision is not
//     verified (failed or pending: put back what was verified), else previous;
//   - a number: that revision, whatever its status.
func ResolveRelease(revs []inventory.Release, to, name string) (ReleasePlan, error) {
	var p ReleasePlan
	if len(revs) == 0 {
		return p, fmt.Errorf("release %s has no revisions: deploy it with manifests first", name)
	}
	p.Latest = &revs[0]
	p.From = p.Latest.Revision
	for i := range revs {
		if revs[i].Status == inventory.Deployed {
			p.Serving = &revs[i]
			break
		}
	}
	n, err := ParseReleaseTo(to)
	if err != nil {
		return p, err
	}
	switch {
	case n > 0:
		for i := range revs {
			if revs[i].Revision == n {
				p.Target = &revs[i]
			}
		}
		if p.Target == nil {
			return p, fmt.Errorf("revision %d not found; the history of release %s holds %s", n, name, revisionList(revs))
		}
	case to == ToLastSuccessful && p.Latest.Status != inventory.Deployed:
		if p.Serving == nil {
			return p, fmt.Errorf("release %s has no verified revision (deploy marks a revision deployed when the whole release verified); history:%s",
				name, ReleaseTable(revs))
		}
		p.Target = p.Serving
	default:
		if p.Target, err = previousRelease(revs, p.Serving, name, to); err != nil {
			return p, err
		}
	}
	p.Unchanged = p.Latest.Status == inventory.Deployed && sameRelease(p.Target, p.Latest)
	p.Delete = deletions(p.Target, p.Latest, p.Serving)
	if p.Serving != nil && !sameRelease(p.Serving, p.Target) {
		p.MarkFailed = append(p.MarkFailed, p.Serving.Revision)
	}
	if p.Latest.Status == inventory.Pending && p.Latest != p.Serving && !sameRelease(p.Latest, p.Target) {
		p.MarkFailed = append(p.MarkFailed, p.Latest.Revision)
	}
	return p, nil
}

// previousRelease is the newest superseded revision below the serving one.
func previousRelease(revs []inventory.Release, serving *inventory.Release, name, to string) (*inventory.Release, error) {
	if serving == nil {
		return nil, fmt.Errorf("release %s has no verified revision serving, so none before it (give a revision number to restore one anyway); history:%s",
			name, ReleaseTable(revs))
	}
	for i := range revs {
		rv := &revs[i]
		if rv.Revision < serving.Revision && rv.Status == inventory.Superseded && !sameRelease(rv, serving) {
			return rv, nil
		}
	}
	what := "no verified revision before revision " + strconv.Itoa(serving.Revision) + ", the one serving"
	if to == ToLastSuccessful {
		what = "no successful revision other than revision " + strconv.Itoa(serving.Revision) + ", the one serving"
	}
	return nil, fmt.Errorf("release %s has %s (a failed or rolled-back-from revision never counts; give a revision number to restore one anyway); history:%s",
		name, what, ReleaseTable(revs))
}

// sameRelease: a and b are one revision or hold the same manifests (a
// restore records its target's manifests unchanged).
func sameRelease(a, b *inventory.Release) bool {
	return a.Revision == b.Revision || (len(a.Manifests) > 0 && bytes.Equal(a.Manifests, b.Manifests))
}

// deletions are the objects of the live revisions that target does not hold.
func deletions(target *inventory.Release, live ...*inventory.Release) []inventory.Ref {
	keep := map[string]bool{}
	for _, ref := range target.Objects {
		keep[ref.Key()] = true
	}
	var out []inventory.Ref
	for _, rel := range live {
		if rel == nil {
			continue
		}
		for _, ref := range rel.Objects {
			if !keep[ref.Key()] {
				keep[ref.Key()] = true
				out = append(out, ref)
			}
		}
	}
	return out
}

// objects is what restoring p does to each object, from the inventory
// alone: apply (it is in a live revision), create (it left the release since)
// or delete.
func (p ReleasePlan) objects(ns string) []apply.Object {
	live := map[string]bool{}
	for _, rel := range []*inventory.Release{p.Latest, p.Serving} {
		if rel != nil {
			for _, ref := range rel.Objects {
				live[ref.Key()] = true
			}
		}
	}
	var out []apply.Object
	for _, ref := range p.Target.Objects {
		act := "apply"
		if !live[ref.Key()] {
			act = "create"
		}
		out = append(out, apply.Object{Name: refName(ref, ns), Action: act})
	}
	for _, ref := range p.Delete {
		out = append(out, apply.Object{Name: refName(ref, ns), Action: "delete"})
	}
	return out
}

// dryRun is what restoring p would do, checked against the live objects:
// apply or create each of the target's objects; delete those it does not
// hold that carry the release's labels (others are kept, gone ones skipped).
func (r *ReleaseRoller) dryRun(ctx context.Context, opts ReleaseOptions, p ReleasePlan) []apply.Object {
	planned := p.objects(opts.Namespace)
	for i, ref := range p.Target.Objects {
		switch u, err := r.get(ctx, ref); {
		case err != nil:
			r.Log.Debugf("read %s: %v", refName(ref, opts.Namespace), err)
		case u == nil:
			planned[i].Action = "create"
		default:
			planned[i].Action = "apply"
		}
	}
	out := planned[:len(p.Target.Objects)]
	for _, ref := range p.Delete {
		o := apply.Object{Name: refName(ref, opts.Namespace), Action: "delete"}
		switch u, err := r.get(ctx, ref); {
		case err != nil:
			r.Log.Debugf("read %s: %v", o.Name, err)
		case u == nil:
			continue // already gone
		case !owned(u, opts):
			o.Action, o.State = "keep", "does not carry the release's labels"
		}
		out = append(out, o)
	}
	return out
}

// deleted says what became of the objects the restore was to delete.
func (r *ReleaseRoller) deleted(ctx context.Context, opts ReleaseOptions, refs []inventory.Ref) []apply.Object {
	var out []apply.Object
	for _, ref := range refs {
		o := apply.Object{Name: refName(ref, opts.Namespace), Action: "deleted"}
		switch u, err := r.get(ctx, ref); {
		case err != nil:
			r.Log.Debugf("read %s: %v", o.Name, err)
			continue
		case u != nil && u.GetDeletionTimestamp() == nil:
			if owned(u, opts) {
				continue // the restore failed before deleting it
			}
			o.Action, o.State = "kept", "does not carry the release's labels"
		}
		out = append(out, o)
	}
	return out
}

// owned: u carries the labels of the release (as apply sets them).
func owned(u *unstructured.Unstructured, opts ReleaseOptions) bool {
	l := u.GetLabels()
	return l[apply.LabelGroup+"/name"] == opts.Release && l[apply.LabelGroup+"/namespace"] == opts.Namespace
}

// get reads ref's live object (nil when it does not exist).
func (r *ReleaseRoller) get(ctx context.Context, ref inventory.Ref) (*unstructured.Unstructured, error) {
	if r.Engine.Dynamic == nil || r.Engine.Mapper == nil {
		return nil, errors.New("no dynamic client")
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil, err
	}
	m, err := r.Engine.Mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: ref.Kind}, gv.Version)
	if err != nil {
		return nil, err
	}
	var ri dynamic.ResourceInterface = r.Engine.Dynamic.Resource(m.Resource)
	if ref.Namespace != "" {
		ri = r.Engine.Dynamic.Resource(m.Resource).Namespace(ref.Namespace)
	}
	u, err := ri.Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return u, err
}

// refName is Kind/name, with the namespace when it is not the release's.
func refName(r inventory.Ref, ns string) string {
	if r.Namespace == "" || r.Namespace == ns {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

func revisionList(revs []inventory.Release) string {
	out := make([]string, len(revs))
	for i, rv := range revs {
		out[i] = strconv.Itoa(rv.Revision)
	}
	return strings.Join(out, ", ")
}

// Run rolls the release back. The error is nil when the target serves,
// verified (or already did).
func (r *ReleaseRoller) Run(ctx context.Context, opts ReleaseOptions) (*ReleaseResult, error) {
	res, err := r.run(ctx, opts)
	if err != nil && ctx.Err() != nil && res.Message == "" {
		res.Message = "cancelled before the rollback started: nothing was changed"
		r.Log.Errorf("%s", res.Message)
	}
	return res, err
}

func (r *ReleaseRoller) run(ctx context.Context, opts ReleaseOptions) (*ReleaseResult, error) {
	start := r.now()
	res := &ReleaseResult{Status: StatusFailed, Release: opts.Release, DryRun: opts.DryRun}
	defer func() { res.Duration = r.now().Sub(start) }()

	end := r.Log.Group(fmt.Sprintf("Rollback plan: release %s in namespace %s (%s)", opts.Release, opts.Namespace, opts.Environment))
	p, err := r.plan(ctx, opts, res, true)
	if err != nil {
		end()
		return res, err
	}
	if p.Unchanged {
		end()
		return r.unchanged(res, p), nil
	}
	if opts.DryRun {
		end()
		res.Status, res.Objects = StatusSucceeded, r.dryRun(ctx, opts, p)
		deletes := 0
		for _, o := range res.Objects {
			if o.Action == "delete" {
				deletes++
			}
		}
		res.Message = fmt.Sprintf("dry run: the rollback would restore revision %d of release %s (%d objects applied, %d deleted); nothing was changed",
			p.Target.Revision, opts.Release, len(p.Target.Objects), deletes)
		r.Log.Infof("%s", res.Message)
		return res, nil
	}
	lk, err := lock.Acquire(ctx, r.Engine.Client, opts.Namespace, opts.Release,
		lock.Holder{ID: opts.Holder, Environment: opts.Environment, Action: "rollback", Target: fmt.Sprintf("release %s revision %d", opts.Release, p.Target.Revision)},
		opts.Timeout*2+5*time.Minute, false)
	if err != nil {
		end()
		return res, fmt.Errorf("%w; nothing was changed", err)
	}
	ctx = lk.Hold(ctx)
	defer func() {
		if err := lk.Release(context.WithoutCancel(ctx)); err != nil {
			r.Log.Warnf("%v", err)
		}
		if lost := lk.Lost(); lost != nil {
			r.Log.Errorf("%v", lost)
		}
	}()
	if lk.Expired != nil {
		r.Log.Warnf("took over an expired deploy lock of %s", lk.Expired.Holder.ID)
	}
	r.Log.Infof("deploy lock taken (lease %s)", lock.Name(opts.Release))
	// Read again under the lock: another run may have deployed meanwhile.
	before := p.Target.Revision
	if p, err = r.plan(ctx, opts, res, false); err != nil {
		end()
		return res, err
	}
	if p.Target.Revision != before {
		r.Log.Warnf("the history of release %s changed before the lock was taken: the target is now revision %d", opts.Release, p.Target.Revision)
	}
	if p.Unchanged {
		end()
		return r.unchanged(res, p), nil
	}
	end()

	res.Target = p.Target
	ro := apply.RestoreOptions{Target: p.Target, From: p.From, Delete: p.Delete, Options: apply.Options{
		Environment: opts.Environment, Namespace: opts.Namespace, Release: opts.Release, Timeout: opts.Timeout, FailFast: true,
		Holder: opts.Holder, HealthCheck: opts.HealthCheck, Rollout: opts.Rollout, Mask: opts.Mask}}
	var present []inventory.Ref // the objects to delete that exist, for the summary
	for _, ref := range p.Delete {
		if u, err := r.get(ctx, ref); err != nil || u != nil {
			present = append(present, ref)
		}
	}
	restored, err := r.Engine.Restore(ctx, ro)
	if restored.Revision > 0 {
		res.Revision = restored.Revision
	}
	res.Objects = append(restored.Objects, r.deleted(context.WithoutCancel(ctx), opts, present)...)
	if f := restored.Outcome.Failed(); f != nil {
		res.Failed, res.Verdict, res.Diagnostics = f.Name, f.Verdict, f.Diagnostics
	}
	if err != nil {
		if ctx.Err() != nil {
			res.Message = fmt.Sprintf("cancelled while restoring revision %d of release %s: the rollback was in flight", p.Target.Revision, opts.Release)
			r.Log.Errorf("%s; some objects may be re-applied; to finish it run rollback with to: %d", res.Message, p.Target.Revision)
			return res, err
		}
		res.Message = fmt.Sprintf("the rollback to revision %d failed: %v", p.Target.Revision, err)
		if c := restored.Conclusion; c.Kind != "" && c.Kind != verify.Verified && c.Kind != verify.Doomed && c.Advice != "" {
			r.Log.Errorf("%s", c.Advice)
		}
		r.refresh(ctx, opts, res)
		return res, errors.New(res.Message)
	}
	res.Status, res.Images = StatusSucceeded, p.Target.Images
	res.Message = fmt.Sprintf("rolled back release %s from revision %d (%s) to revision %d's manifests (%s), now revision %d",
		opts.Release, p.From, joinOr(res.FromImages, "no images"), p.Target.Revision, joinOr(p.Target.Images, "no images"), res.Revision)
	r.Log.Infof("%s", res.Message)
	for _, rev := range p.MarkFailed {
		// What we rolled back from was judged bad: never a previous or last-successful target again.
		if err := r.store(opts.Namespace).SetStatus(context.WithoutCancel(ctx), opts.Release, rev, inventory.Failed, "rolled back from by "+opts.Holder); err != nil {
			r.Log.Warnf("%v", err)
		} else {
			r.Log.Infof("revision %d (rolled back from) is recorded as failed", rev)
		}
	}
	r.refresh(ctx, opts, res)
	return res, nil
}

// plan reads the history and resolves the target, filling res's "before";
// verbose logs the plan.
func (r *ReleaseRoller) plan(ctx context.Context, opts ReleaseOptions, res *ReleaseResult, verbose bool) (ReleasePlan, error) {
	revs, err := r.List(ctx, opts.Namespace, opts.Release)
	if err != nil {
		return ReleasePlan{}, fmt.Errorf("%w; nothing was changed", err)
	}
	res.History = revs
	if len(revs) == 0 {
		return ReleasePlan{}, fmt.Errorf("release %s has no revisions in namespace %s (deploy it with manifests first); nothing was changed", opts.Release, opts.Namespace)
	}
	res.FromRevision, res.Revision, res.FromImages, res.Images = revs[0].Revision, revs[0].Revision, revs[0].Images, revs[0].Images
	p, err := ResolveRelease(revs, opts.To, opts.Release)
	if err != nil {
		return p, fmt.Errorf("%w; nothing was changed", err)
	}
	res.Target = p.Target
	if len(p.Target.Manifests) == 0 && !p.Unchanged {
		return p, fmt.Errorf("revision %d of release %s holds no manifests to re-apply; nothing was changed", p.Target.Revision, opts.Release)
	}
	if !verbose {
		return p, nil
	}
	r.Log.Infof("current: revision %d (%s; %s); target: revision %d (%s)%s", p.Latest.Revision, p.Latest.Status,
		joinOr(p.Latest.Images, "no images"), p.Target.Revision, joinOr(p.Target.Images, "no images"), describeRelease(p.Target))
	if p.Target.Status == inventory.Failed || p.Target.Status == inventory.Pending {
		r.Log.Warnf("revision %d is recorded as %s%s: restoring it anyway, as asked", p.Target.Revision, p.Target.Status, reason(p.Target.Reason))
	}
	if p.Unchanged {
		return p, nil
	}
	var names []string
	for _, o := range p.objects(opts.Namespace) {
		names = append(names, o.Action+" "+o.Name)
	}
	r.Log.Infof("restoring revision %d: %s (an object is deleted only when it carries the release's labels)", p.Target.Revision, strings.Join(names, ", "))
	return p, nil
}

func (r *ReleaseRoller) unchanged(res *ReleaseResult, p ReleasePlan) *ReleaseResult {
	res.Status = StatusUnchanged
	res.Message = fmt.Sprintf("release %s already serves revision %d's manifests (revision %d, verified): nothing to roll back",
		p.Latest.Name, p.Target.Revision, p.Latest.Revision)
	r.Log.Infof("%s", res.Message)
	return res
}

// refresh re-reads the history for the outputs (a failure is a warning).
func (r *ReleaseRoller) refresh(ctx context.Context, opts ReleaseOptions, res *ReleaseResult) {
	revs, err := r.List(context.WithoutCancel(ctx), opts.Namespace, opts.Release)
	if err != nil {
		r.Log.Warnf("%v", err)
		return
	}
	res.History = revs
}

func describeRelease(rv *inventory.Release) string {
	var notes []string
	if rv.Status == inventory.Superseded || rv.Status == inventory.Deployed {
		notes = append(notes, "verified")
	}
	if rv.RolledBackFrom > 0 {
		notes = append(notes, fmt.Sprintf("restores revision %d", rv.RolledBackFrom))
	}
	if rv.Cause != "" {
		notes = append(notes, rv.Cause)
	}
	if len(notes) == 0 {
		return ""
	}
	return " — " + strings.Join(notes, "; ")
}

func reason(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func joinOr(list []string, none string) string {
	if len(list) == 0 {
		return none
	}
	return strings.Join(list, ", ")
}

// ReleaseTable renders a release history in one line per revision (for errors and logs).
func ReleaseTable(revs []inventory.Release) string {
	var b strings.Builder
	for _, rv := range revs {
		fmt.Fprintf(&b, "\n  %d  %s  %s", rv.Revision, rv.Status, joinOr(rv.Images, "-"))
		if rv.RolledBackFrom > 0 {
			fmt.Fprintf(&b, "  (restores revision %d)", rv.RolledBackFrom)
		}
		if rv.Cause != "" {
			b.WriteString("  " + rv.Cause)
		}
	}
	return b.String()
}

// ReleaseRows renders a release history as table rows (see ReleaseHeader).
func ReleaseRows(revs []inventory.Release) [][]string {
	rows := make([][]string, len(revs))
	for i, rv := range revs {
		var notes []string
		if rv.RolledBackFrom > 0 {
			notes = append(notes, fmt.Sprintf("restores revision %d", rv.RolledBackFrom))
		}
		if rv.Reason != "" {
			notes = append(notes, rv.Reason)
		}
		rows[i] = []string{strconv.Itoa(rv.Revision), string(rv.Status), strings.Join(rv.Images, ", "), strconv.Itoa(len(rv.Objects)),
			rv.Time.UTC().Format(time.RFC3339), rv.Cause, strings.Join(notes, "; ")}
	}
	return rows
}

// ReleaseHeader names the columns of ReleaseRows.
var ReleaseHeader = []string{"REVISION", "STATUS", "IMAGES", "OBJECTS", "TIME", "CAUSE", "NOTES"}
