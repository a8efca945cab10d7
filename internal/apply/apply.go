// Package apply deploys a manifest release: every object of a set of
// manifests applied server-side in dependency order after a dry run of all
// of them, objects that left the set pruned, one verdict over the whole set
// (package verify), and on failure the previous verified release restored as
// a whole. The release's objects and manifests are recorded per revision
// (package inventory).
package apply

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fluxcd/pkg/ssa"
	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/org/erlmcp-deploy/internal/diagnose"
	"github.com/org/erlmcp-deploy/internal/inventory"
	"github.com/org/erlmcp-deploy/internal/manifest"
	"github.com/org/erlmcp-deploy/internal/rollout"
	"github.com/org/erlmcp-deploy/internal/ui"
	"github.com/org/erlmcp-deploy/internal/verify"
)

// Status is the outcome reported in the `status` output.
type Status string

// Outcomes of a release deploy (the same words as an image deploy's).
const (
	StatusSucceeded  Status = "succeeded"
	StatusRolledBack Status = "rolled-back"
	StatusFailed     Status = "failed"
	// StatusAborted: the release's canary was aborted; nothing of the release was applied.
	StatusAborted Status = "aborted"
	// StatusPaused: the release's canary waits for canary-decision.
	StatusPaused Status = "paused"
)

// Options are one release deploy's settings.
type Options struct {
	Environment string
	// Namespace is the release's namespace: the inventory and the lock live
	// there, and objects without a namespace go there.
	Namespace string
	// Release names the release (default: the deployment input).
	Release string
	// Manifests are the files, directories and kustomizations to deploy.
	Manifests []string
	// Images replace the images of matching repositories.
	Images manifest.Images
	// Required are the repositories that must match at least one container
	// (the `image` input's).
	Required []string
	// Prune deletes objects of the previous release that left the set.
	Prune bool
	// ForceConflicts takes over fields that another field manager owns.
	ForceConflicts bool
	DryRun         bool
	// Force takes the deploy lock over from another run.
	Force             bool
	Timeout           time.Duration
	FailFast          bool
	RollbackOnFailure bool
	ChangeCause       string
	Holder            string
	HealthCheck       func(ctx context.Context) error
	Recheck           time.Duration
	Rollout           rollout.Options
	Mask              func(string)
	// Confine places every namespaced object in Namespace, whatever its
	// manifest says, leaves out the manifests' own Namespace objects and
	// refuses every other cluster-scoped object (a preview).
	Confine bool
	// Progressive: this apply is the promotion of the release's canary,
	// which owns the progressive state of its Deployments; otherwise what an
	// unfinished canary or blue-green of them left is undone first.
	Progressive bool
	// OnChange, when set, runs once the plan passed, right before the
	// first change, with the release's images (the GitHub deployment
	// starts there, so bad input leaves nothing on GitHub).
	OnChange func(ctx context.Context, images []string)
}

// Object is one object of the release and what happened to it.
type Object struct {
	// Name is "Kind/name" (with the namespace when it is not the release's).
	Name   string
	Source string
	// Action is created, configured, unchanged, pruned or deleted.
	Action string
	// State is the verdict's last word on it ("" when not verified).
	State string
	// Changes are the fields a dry run would change.
	Changes []manifest.Change `json:"changes,omitempty"`
}

// Result is what a release deploy did; filled as far as it got.
type Result struct {
	Status           Status
	Release          string
	Revision         int
	PreviousRevision int
	Images           []string
	Objects          []Object
	DryRun           bool
	// Unchanged: every object already matched the manifests.
	Unchanged     bool
	FailureReason string
	// Failed names the object whose verdict failed the release.
	Failed        string
	Conclusion    verify.Kind
	Advice        string
	Verdict       rollout.Verdict
	Diagnostics   *diagnose.Report
	TimeToVerdict time.Duration
	RolledBack    bool
	// RollbackTo is the release revision restored (0: none); RollbackRevision the revision that records it.
	RollbackTo       int
	RollbackRevision int
	RollbackError    string
	RollbackDuration time.Duration
	Duration         time.Duration
}

// Engine deploys releases to one cluster.
type Engine struct {
	Client  kubernetes.Interface
	Dynamic dynamic.Interface
	// Objects is the controller-runtime client the apply engine (fluxcd/pkg/ssa) uses.
	Objects client.Client
	Mapper  meta.RESTMapper
	Log     ui.Logger
	Now     func() time.Time
	// Backoff paces the retries of recording a verified revision (zero: 0.5 s doubling, 5 attempts).
	Backoff wait.Backoff
}

// New builds an Engine from a REST config and the clientset made from it.
func New(cfg *rest.Config, cs kubernetes.Interface, log ui.Logger) (*Engine, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("http client for %s: %w", cfg.Host, err)
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("discover the API of %s: %w", cfg.Host, err)
	}
	// controller-runtime prints a stack trace to stderr when its process-wide
	// logger was never set; it has nothing to tell a deploy's reader.
	ctrllog.SetLogger(logr.Discard())
	objs, err := client.New(cfg, client.Options{HTTPClient: hc, Mapper: mapper})
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	dyn, err := dynamic.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("dynamic client for %s: %w", cfg.Host, err)
	}
	return &Engine{Client: cs, Dynamic: dyn, Objects: objs, Mapper: mapper, Log: log}, nil
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Engine) store(ns string) inventory.Store {
	return inventory.Store{Client: e.Client, Namespace: ns, Now: e.Now}
}

// InputError is bad input — a manifest (each problem with its file and
// line), an image mapping: nothing was changed.
type InputError struct {
	// Input is the input at fault: manifests, image or images.
	Input    string
	Problems []*manifest.Error
	// Note says what became of the namespace this deploy had created
	// ("" when it created none); Changed: it could not be deleted again.
	Note    string
	Changed bool
}

// Error lists the problems, one per line, and says nothing was changed
// (when so).
func (e *InputError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Error()
	}
	if e.Note != "" {
		msgs = append(msgs, e.Note)
	}
	if e.Changed {
		return strings.Join(msgs, "\n")
	}
	return strings.Join(msgs, "\n") + " (nothing was changed)"
}

// inputError wraps err (a *manifest.Error keeps its position) as input's problem.
func inputError(input string, err error) *InputError {
	var me *manifest.Error
	if errors.As(err, &me) {
		return &InputError{Input: input, Problems: []*manifest.Error{me}}
	}
	return &InputError{Input: input, Problems: []*manifest.Error{{Msg: err.Error()}}}
}

// Run deploys the release: load → pre-flight (the release's namespace
// created when the release holds it and it does not exist) → plan
// (server-side dry run) → record → apply → verify → prune → conclude, and
// on a doomed verdict (or a failed apply) the previous verified release
// restored. A re-deploy of the verified release that serves, unchanged, only
// verifies what serves and records nothing. The error is nil only when the
// new release is serving; the Result is always filled for the outputs.
func (e *Engine) Run(ctx context.Context, opts Options) (*Result, error) {
	start := e.now()
	res := &Result{Release: opts.Release, Status: StatusFailed, DryRun: opts.DryRun}
	defer func() { res.Duration = e.now().Sub(start) }()
	fail := func(err error) (*Result, error) {
		if res.FailureReason == "" {
			res.FailureReason = err.Error()
		}
		return res, err
	}

	end := e.Log.Group(fmt.Sprintf("Load the manifests of release %s", opts.Release))
	set, err := e.load(opts)
	end()
	if err != nil {
		return fail(err)
	}
	res.Images = set.images()

	end = e.Log.Group(fmt.Sprintf("Pre-flight: release %s in namespace %s (%s)", opts.Release, opts.Namespace, opts.Environment))
	pf, err := e.preflight(ctx, opts, set)
	end()
	if err != nil {
		if ctx.Err() != nil {
			res.FailureReason = "cancelled during pre-flight: nothing was changed"
		}
		return fail(err)
	}
	if pf.lock != nil {
		ctx = pf.lock.Hold(ctx)
	}
	defer func() {
		if pf.lock == nil {
			return
		}
		if err := pf.lock.Release(context.WithoutCancel(ctx)); err != nil {
			e.Log.Warnf("%v", err)
		}
		if lost := pf.lock.Lost(); lost != nil {
			e.Log.Errorf("%v", lost)
			res.FailureReason = lost.Error() + ": " + res.FailureReason
		}
	}()
	if pf.previous != nil {
		res.PreviousRevision = pf.previous.Revision
	}

	end = e.Log.Group("Plan: server-side dry run of every object")
	plan, err := e.plan(ctx, opts, set, pf)
	end()
	res.Objects = plan.objects(opts.Namespace)
	if err != nil {
		return fail(e.undoBeforeChange(ctx, pf, err))
	}
	if opts.DryRun {
		res.Status = StatusSucceeded
		res.Unchanged = plan.unchanged()
		e.Log.Infof("dry run: the API server accepted every object; nothing was changed")
		return res, nil
	}
	if err := e.settle(ctx, opts, set); err != nil {
		return fail(e.undoBeforeChange(ctx, pf, err))
	}
	if unchanged(plan, pf, set.encoded) {
		return e.verifyServing(ctx, opts, set, plan, pf, res, start)
	}

	if opts.OnChange != nil {
		opts.OnChange(ctx, res.Images)
	}
	rel := &inventory.Release{Name: opts.Release, Status: inventory.Pending, Images: res.Images, Cause: opts.ChangeCause,
		Objects: set.refs(), Manifests: set.encoded}
	if err := e.store(opts.Namespace).Create(ctx, rel); err != nil {
		return fail(e.undoBeforeChange(ctx, pf, fmt.Errorf("record release %s: %w", opts.Release, err)))
	}
	res.Revision = rel.Revision

	end = e.Log.Group(fmt.Sprintf("Apply revision %d of release %s (%d objects)", rel.Revision, opts.Release, len(set.objects)))
	applied, err := e.apply(ctx, opts, set)
	end()
	res.Objects = applied.objects(plan, opts.Namespace)
	if err != nil {
		e.markFailed(ctx, opts, rel.Revision, err.Error())
		if ctx.Err() != nil {
			res.FailureReason = "cancelled while applying"
			e.Log.Errorf("cancelled while applying revision %d: some objects may be applied; run deploy again to converge, or rollback to return to revision %d", rel.Revision, res.PreviousRevision)
			return fail(err)
		}
		return e.applyFailed(ctx, opts, set, plan, pf, res, applied, err)
	}

	out, err := e.verifier(opts, fmt.Sprintf("Verify revision %d of release %s", rel.Revision, opts.Release)).RunSet(ctx, applied.members, start.Add(opts.Timeout))
	res.TimeToVerdict = out.Elapsed
	res.Objects = applied.objects(plan, opts.Namespace, out)
	if err != nil {
		res.FailureReason = "cancelled while waiting for the release"
		e.Log.Errorf("cancelled while waiting for revision %d of release %s: no rollback was started and nothing was pruned; run deploy again to finish, or rollback to return to revision %d",
			rel.Revision, opts.Release, res.PreviousRevision)
		return fail(err)
	}
	c := verify.ConcludeSet(out)
	res.Conclusion = c.Kind
	if c.Kind != verify.Verified {
		return e.failed(ctx, opts, pf, res, applied, c, &out)
	}
	e.prune(ctx, opts, plan, applied, rel.Revision)
	res.Objects = applied.objects(plan, opts.Namespace, out)
	markVerified(ctx, e, out)
	if err := e.recordDeployed(ctx, opts.Namespace, opts.Release, rel.Revision); err != nil {
		res.FailureReason = fmt.Sprintf("revision %d verified and is serving, but recording it as deployed failed: %v", rel.Revision, err)
		res.Advice = fmt.Sprintf("until it is recorded, revision %d is no rollback target and a failure restores revision %s: run deploy again with the same inputs (it changes nothing and records the verified revision)",
			rel.Revision, revisionOrNone(res.PreviousRevision))
		e.Log.Errorf("%s; %s", res.FailureReason, res.Advice)
		return res, errors.New(res.FailureReason)
	}
	res.Status = StatusSucceeded
	e.Log.Infof("revision %d of release %s is serving (%d objects verified in %s)", rel.Revision, opts.Release, len(applied.members), out.Elapsed.Round(100*time.Millisecond))
	return res, nil
}

func revisionOrNone(n int) string {
	if n == 0 {
		return "none (there is no earlier verified one)"
	}
	return strconv.Itoa(n)
}

// unchanged reports whether a deploy would change nothing: every object
// matches the manifests, nothing is to be pruned, and the newest revision
// is the verified one and holds the very same manifests (the change-cause
// is not part of them). A pure function.
func unchanged(p *plan, pf *preflight, encoded []byte) bool {
	return p.unchanged() && pf.previous != nil && pf.latest != nil && pf.latest.Revision == pf.previous.Revision &&
		bytes.Equal(pf.previous.Manifests, encoded)
}

// verifyServing verifies the release that serves unchanged: no revision is
// recorded, nothing is applied, and a failed verdict rolls nothing back
// (this run changed nothing); Revision stays the serving one, so waves,
// rollback-scope and the pipeline see an unchanged context.
func (e *Engine) verifyServing(ctx context.Context, opts Options, s *set, p *plan, pf *preflight, res *Result, start time.Time) (*Result, error) {
	rev := pf.previous.Revision
	res.Unchanged, res.Revision = true, rev
	e.Log.Infof("every object already matches revision %d of release %s, which is verified and serving: nothing to apply, no new revision; verifying what serves", rev, opts.Release)
	a := newApplied()
	for _, en := range p.entries {
		a.actions[en.name] = string(ssa.UnchangedAction)
	}
	members, err := e.members(ctx, opts, s, a)
	if err != nil {
		res.FailureReason = err.Error()
		return res, err
	}
	out, err := e.verifier(opts, fmt.Sprintf("Verify revision %d of release %s (unchanged)", rev, opts.Release)).RunSet(ctx, members, start.Add(opts.Timeout))
	res.TimeToVerdict = out.Elapsed
	res.Objects = a.objects(p, opts.Namespace, out)
	if err != nil {
		res.FailureReason = "cancelled while verifying the release that serves (nothing was changed)"
		return res, err
	}
	c := verify.ConcludeSet(out)
	res.Conclusion = c.Kind
	if c.Kind == verify.Verified {
		res.Status = StatusSucceeded
		e.Log.Infof("revision %d of release %s serves, unchanged and verified (%d objects in %s)", rev, opts.Release, len(members), out.Elapsed.Round(100*time.Millisecond))
		return res, nil
	}
	res.FailureReason = c.Reason
	if f := out.Failed(); f != nil {
		res.Failed, res.Verdict, res.Diagnostics = f.Name, f.Verdict, f.Diagnostics
	}
	res.Advice = fmt.Sprintf("revision %d serves unchanged and did not verify; this run changed nothing, so it rolled nothing back and recorded nothing: %s", rev, c.Advice)
	e.Log.Errorf("revision %d of release %s, unchanged, did not verify: %s", rev, opts.Release, c.Reason)
	e.Log.Errorf("%s", res.Advice)
	return res, fmt.Errorf("release %s revision %d (unchanged) did not verify: %s", opts.Release, rev, c.Reason)
}

// undoBeforeChange is a failure before the release's first change: the
// namespace pre-flight created goes again. An *InputError keeps its type
// (its problems are annotations) and notes what became of the namespace.
func (e *Engine) undoBeforeChange(ctx context.Context, pf *preflight, err error) error {
	var ie *InputError
	if !errors.As(err, &ie) {
		return e.undoNamespaceErr(ctx, pf, err)
	}
	if msg, done := e.undoNamespace(ctx, pf); msg != "" {
		ie.Note, ie.Changed = msg, !done
	}
	return err
}

// recordDeployed records a verified revision as deployed, retried: a
// revision left pending is never a rollback target.
func (e *Engine) recordDeployed(ctx context.Context, ns, release string, revision int) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	backoff := e.Backoff
	if backoff.Steps == 0 {
		backoff = wait.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Steps: 5}
	}
	return retryRecord(ctx, backoff, func(ctx context.Context) error {
		return e.store(ns).SetStatus(ctx, release, revision, inventory.Deployed, "")
	})
}

// retryRecord calls record until it succeeds or backoff's steps run out,
// and returns its last error with the number of attempts.
func retryRecord(ctx context.Context, backoff wait.Backoff, record func(context.Context) error) error {
	var last error
	attempts := 0
	err := wait.ExponentialBackoffWithContext(ctx, backoff, func(ctx context.Context) (bool, error) {
		attempts++
		last = record(ctx)
		return last == nil, nil
	})
	switch {
	case err == nil:
		return nil
	case last != nil:
		return fmt.Errorf("%w (%d attempts)", last, attempts)
	}
	return err
}

// verifier is the verification step of this release.
func (e *Engine) verifier(opts Options, group string) verify.Step {
	ro := opts.Rollout
	ro.FailFast = opts.FailFast
	return verify.Step{Client: e.Client, Log: e.Log, Now: e.Now, Rollout: ro, HealthCheck: opts.HealthCheck, Recheck: opts.Recheck, Group: group}
}

func (e *Engine) markFailed(ctx context.Context, opts Options, revision int, why string) {
	if err := e.store(opts.Namespace).SetStatus(context.WithoutCancel(ctx), opts.Release, revision, inventory.Failed, why); err != nil {
		e.Log.Warnf("%v", err)
	}
}

// failed reports a release that did not verify and, when it is doomed,
// restores the previous verified release as a whole.
func (e *Engine) failed(ctx context.Context, opts Options, pf *preflight, res *Result, applied *applied, c verify.Conclusion, out *verify.SetOutcome) (*Result, error) {
	res.FailureReason, res.Conclusion = c.Reason, c.Kind
	if out != nil {
		if f := out.Failed(); f != nil {
			res.Failed, res.Verdict, res.Diagnostics = f.Name, f.Verdict, f.Diagnostics
		}
		markFailedRevisions(ctx, e, out, c.Reason)
	}
	e.Log.Errorf("revision %d of release %s failed: %s", res.Revision, opts.Release, c.Reason)
	cause := fmt.Errorf("release %s revision %d failed: %s", opts.Release, res.Revision, c.Reason)
	if c.Kind != verify.Doomed {
		res.Advice = c.Advice
		e.Log.Errorf("%s", c.Advice)
		return res, cause
	}
	e.markFailed(ctx, opts, res.Revision, c.Reason)
	if !opts.RollbackOnFailure {
		res.Advice = c.Advice
		e.Log.Warnf("no rollback (rollback-on-failure is false): the release is left as it is; %s", c.Advice)
		return res, cause
	}
	if pf.previous == nil {
		res.Advice = "no verified release to restore (this was the first deploy of " + opts.Release + "); fix the manifests and deploy again"
		res.RollbackError = "no previous verified release"
		e.Log.Errorf("%s", res.Advice)
		return res, fmt.Errorf("%w; no rollback: %s", cause, res.RollbackError)
	}
	rbStart := e.now()
	r, err := e.Restore(ctx, RestoreOptions{Options: opts, Target: pf.previous, From: res.Revision, Delete: applied.created()})
	res.RollbackDuration = e.now().Sub(rbStart)
	res.RollbackTo, res.RollbackRevision = pf.previous.Revision, r.Revision
	if err != nil {
		res.RollbackError = err.Error()
		e.Log.Errorf("restoring revision %d failed: %v", pf.previous.Revision, err)
		return res, fmt.Errorf("%w; and restoring revision %d failed: %v", cause, pf.previous.Revision, err)
	}
	res.Status, res.RolledBack = StatusRolledBack, true
	e.Log.Infof("rolled back in %s: revision %d of release %s is serving again (recorded as revision %d)",
		res.RollbackDuration.Round(100*time.Millisecond), pf.previous.Revision, opts.Release, r.Revision)
	return res, cause
}

// applyFailed undoes a failed apply. What it created is deleted again, by
// UID (Namespaces and cluster-scoped objects too, and the release's
// namespace when this deploy created it); when it configured an object, the
// previous verified revision is restored as a whole. Nothing was pruned
// (prune waits for a verified release). With rollback-on-failure false
// everything is left as the apply made it, and said.
func (e *Engine) applyFailed(ctx context.Context, opts Options, s *set, p *plan, pf *preflight, res *Result, a *applied, applyErr error) (*Result, error) {
	res.Conclusion, res.FailureReason = verify.Doomed, applyErr.Error()
	e.Log.Errorf("revision %d of release %s failed to apply: %v", res.Revision, opts.Release, applyErr)
	cause := fmt.Errorf("release %s revision %d failed: %w", opts.Release, res.Revision, applyErr)
	rb, err := e.readBack(context.WithoutCancel(ctx), opts, s, p, a)
	if err != nil {
		res.Advice = fmt.Sprintf("what the failed apply changed could not be read back (%v): run deploy again to converge, or rollback to return to revision %s",
			err, revisionOrNone(res.PreviousRevision))
		e.Log.Errorf("%s", res.Advice)
		return res, fmt.Errorf("%w; %s", cause, res.Advice)
	}
	for _, c := range rb.created {
		a.actions[c.name] = string(ssa.CreatedAction)
	}
	for _, n := range rb.configured {
		a.actions[n] = string(ssa.ConfiguredAction)
	}
	if len(rb.foreign) > 0 {
		e.Log.Warnf("created meanwhile by another writer, so left alone: %s", strings.Join(rb.foreign, ", "))
	}
	defer func() { res.Objects = a.objects(p, opts.Namespace) }()
	if !opts.RollbackOnFailure {
		res.Advice = fmt.Sprintf("no rollback (rollback-on-failure is false): the failed apply's changes are left — created: %s; configured: %s",
			joinOr(names(rb.created), "none"), joinOr(rb.configured, "none"))
		e.Log.Warnf("%s", res.Advice)
		return res, fmt.Errorf("%w; %s", cause, res.Advice)
	}

	nothing := len(rb.created) == 0 && len(rb.configured) == 0 && pf.created == nil
	var done, left []string
	deleted, undeleted := e.deleteCreated(ctx, s, rb.created)
	for _, n := range deleted {
		a.actions[n], a.states[n] = actionDeleted, "created by the failed apply, deleted again"
	}
	if len(deleted) > 0 {
		done = append(done, "deleted what it had created ("+strings.Join(deleted, ", ")+")")
		e.Log.Infof("deleted what the failed apply had created: %s", strings.Join(deleted, ", "))
	}
	if len(undeleted) > 0 {
		left = append(left, "could not delete what it created: "+strings.Join(undeleted, "; ")+" — delete them by hand")
	}
	if pf.created != nil && len(rb.configured) == 0 {
		if msg, ok := e.undoNamespace(ctx, pf); ok {
			done = append(done, msg)
		} else {
			left = append(left, msg)
		}
	}
	switch {
	case len(rb.configured) == 0:
	case pf.previous == nil:
		left = append(left, fmt.Sprintf("it had configured %s, and release %s has no verified revision to restore: they keep revision %d's content",
			strings.Join(rb.configured, ", "), opts.Release, res.Revision))
	default:
		rbStart := e.now()
		r, err := e.Restore(ctx, RestoreOptions{Options: opts, Target: pf.previous, From: res.Revision})
		res.RollbackDuration = e.now().Sub(rbStart)
		res.RollbackTo, res.RollbackRevision = pf.previous.Revision, r.Revision
		if err != nil {
			res.RollbackError = err.Error()
			left = append(left, fmt.Sprintf("it had configured %s, and restoring revision %d failed: %v", strings.Join(rb.configured, ", "), pf.previous.Revision, err))
			break
		}
		res.Status, res.RolledBack = StatusRolledBack, true
		done = append(done, fmt.Sprintf("restored revision %d as a whole (recorded as revision %d), as it had configured %s",
			pf.previous.Revision, r.Revision, strings.Join(rb.configured, ", ")))
	}
	res.Advice = "fix what the apply error says, then deploy again"
	var msg string
	switch {
	case len(left) > 0:
		msg = strings.Join(append(done, left...), "; ")
		res.Advice = "fix what the apply error says; " + strings.Join(left, "; ")
	case nothing:
		msg = "the apply changed nothing"
	case len(rb.configured) == 0:
		msg = strings.Join(append(done, "nothing of the release was changed"), "; ")
	default:
		msg = strings.Join(done, "; ")
	}
	if len(left) > 0 {
		e.Log.Errorf("%s", msg)
	} else {
		e.Log.Infof("%s", msg)
	}
	return res, fmt.Errorf("%w; %s", cause, msg)
}

// shortName is how an object is named in logs: Kind/name, with its
// namespace when that is not the release's.
func shortName(kind, ns, name, releaseNS string) string {
	if ns == "" || ns == releaseNS {
		return kind + "/" + name
	}
	return kind + "/" + ns + "/" + name
}

// refName is how an inventory Ref is named in logs (see shortName).
func refName(r inventory.Ref, releaseNS string) string {
	return shortName(r.Kind, r.Namespace, r.Name, releaseNS)
}

func joinOr(list []string, none string) string {
	if len(list) == 0 {
		return none
	}
	return strings.Join(list, ", ")
}

// Check reads and prepares the manifests as Run would, and changes nothing:
// it returns the input errors Run would stop at first (a file that does not
// parse, a kind the cluster does not serve, an image no container runs, an
// object a confined release may not hold), so a caller can refuse bad input
// before it changes anything of its own.
func (e *Engine) Check(opts Options) error {
	quiet := *e
	quiet.Log = ui.Discard{}
	_, err := quiet.load(opts)
	return err
}
