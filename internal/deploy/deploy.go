// Package deploy rolls a new image out to a Deployment: pre-flight checks,
// a backup of the serving template, a patch of one container's image, a
// watch-based wait with fail-fast verdicts, diagnostics collected before
// anything is deleted, and an automatic rollback to the previous revision.
package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/org/erlmcp-deploy/internal/diagnose"
	"github.com/org/erlmcp-deploy/internal/history"
	"github.com/org/erlmcp-deploy/internal/imageref"
	"github.com/org/erlmcp-deploy/internal/lock"
	"github.com/org/erlmcp-deploy/internal/progressive"
	"github.com/org/erlmcp-deploy/internal/rollout"
	"github.com/org/erlmcp-deploy/internal/ui"
	"github.com/org/erlmcp-deploy/internal/verify"
)

// Status is the outcome reported in the `status` output.
type Status string

// Outcomes of a deploy.
const (
	StatusSucceeded  Status = "succeeded"
	StatusRolledBack Status = "rolled-back"
	StatusFailed     Status = "failed"
	// StatusAborted: a canary was aborted; stable was never touched.
	StatusAborted Status = "aborted"
	// StatusPaused: a canary waits for canary-decision (its analysis was inconclusive).
	StatusPaused Status = "paused"
)

// Options are one deploy's settings.
type Options struct {
	Environment string
	Namespace   string
	Deployment  string
	// Container is the container whose image changes ("" = the only one).
	Container string
	// Image is the reference to deploy (already validated, possibly pinned to a digest).
	Image string
	// Digest is the image digest when known.
	Digest            string
	Timeout           time.Duration
	FailFast          bool
	RollbackOnFailure bool
	DryRun            bool
	Force             bool
	ChangeCause       string
	// Holder identifies this run in the deploy lock.
	Holder string
	// BackupDir receives the serving pod template before the change.
	BackupDir string
	// HealthCheck, when set, must pass after the rollout (within the timeout).
	HealthCheck func(ctx context.Context) error
	// InitContainers: init containers that run the same image repository as
	// Container get the new image too.
	InitContainers bool
	// Recheck bounds the re-read after the API server failed until the
	// deadline (default verify.DefaultRecheck).
	Recheck time.Duration
	// Progressive: this deploy is the last step of a canary or blue-green of
	// the Deployment, which owns its progressive state; otherwise whatever an
	// unfinished canary or blue-green left is undone first (progressive.Settle).
	Progressive bool
	// Rollout tunes the verdict's rules (FailFast above wins over Rollout.FailFast).
	Rollout rollout.Options
	// Mask, when set, is given every value that must not be printed: the
	// literal credentials in the pod template (diagnose.SecretValues), which
	// pod logs may echo.
	Mask func(string)
}

// Result is what a deploy did; it is filled as far as the deploy got.
type Result struct {
	Status           Status
	Revision         int64
	PreviousRevision int64
	Image            string
	Digest           string
	PreviousImages   []string
	RolledBack       bool
	FailureReason    string
	Duration         time.Duration
	BackupPath       string
	DryRun           bool
	// Unchanged is true when the Deployment already ran the image.
	Unchanged bool
	Verdict   rollout.Verdict
	// TimeToVerdict is how long the rollout took to reach its verdict.
	TimeToVerdict time.Duration
	Diagnostics   *diagnose.Report
	// RollbackError is why the automatic rollback failed ("" otherwise).
	RollbackError string
	// RollbackDuration is how long the rollback took to be available again.
	RollbackDuration time.Duration
	// RollbackTo is the revision the rollback restored (0: none), and its images.
	RollbackTo     int64
	RollbackImages []string
	// RollbackDiagnostics is the evidence of a rollback that did not verify.
	RollbackDiagnostics *diagnose.Report
	// Conclusion is what the verification meant ("" before it ran).
	Conclusion verify.Kind
	// Advice is the next step when the deploy failed without a rollback.
	Advice string
	// CauseClass names the failure's cause when no rollout evidence does
	// (a canary's analysis or checks); "" leaves it to the diagnostics.
	CauseClass string
}

// PreflightError is a problem found before anything changed.
type PreflightError struct{ Err error }

// Error says nothing was changed.
func (e *PreflightError) Error() string { return e.Err.Error() + " (nothing was changed)" }

// Unwrap returns the cause.
func (e *PreflightError) Unwrap() error { return e.Err }

// Deployer runs deploys against one cluster.
type Deployer struct {
	Client kubernetes.Interface
	Log    ui.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (dp *Deployer) now() time.Time {
	if dp.Now != nil {
		return dp.Now()
	}
	return time.Now()
}

// Run deploys opts.Image. The error is nil only when the new image is
// serving (status succeeded); the Result is always filled for the outputs.
func (dp *Deployer) Run(ctx context.Context, opts Options) (_ *Result, err error) {
	start := dp.now()
	res := &Result{Image: opts.Image, Digest: opts.Digest, DryRun: opts.DryRun, Status: StatusFailed}
	defer func() { res.Duration = dp.now().Sub(start) }()
	fail := func(err error) (*Result, error) {
		res.Status = StatusFailed
		if res.FailureReason == "" {
			res.FailureReason = err.Error()
		}
		return res, err
	}

	end := dp.Log.Group(fmt.Sprintf("Pre-flight: deployment %s/%s (%s)", opts.Namespace, opts.Deployment, opts.Environment))
	d, container, lk, err := dp.preflight(ctx, opts)
	var sv serving
	if err == nil {
		sv = dp.assess(ctx, d, opts.DryRun)
	}
	end()
	if err != nil {
		if ctx.Err() != nil {
			res.FailureReason = "cancelled during pre-flight: nothing was changed"
			dp.Log.Errorf("%s (%s)", res.FailureReason, dp.state(ctx, opts))
		}
		if se := (*progressive.SettleError)(nil); errors.As(err, &se) {
			return fail(err) // it says what it changed and what is left
		}
		return fail(&PreflightError{Err: err})
	}
	if lk != nil {
		ctx = lk.Hold(ctx)
		defer func() {
			if rerr := lk.Release(ctx); rerr != nil {
				dp.Log.Warnf("%v", rerr)
			}
			if lost := lk.Lost(); lost != nil && err != nil {
				dp.Log.Errorf("%v: %s", lost, dp.state(context.WithoutCancel(ctx), opts))
				res.Status, res.FailureReason = StatusFailed, lost.Error()
				err = fmt.Errorf("%w (%w)", lost, err)
			}
		}()
	}
	diagnose.MaskSecrets(opts.Mask, &d.Spec.Template)
	res.PreviousRevision, _ = history.RevisionOf(d)
	res.Revision = res.PreviousRevision
	res.PreviousImages = history.Images(&d.Spec.Template)

	if path, err := writeBackup(opts, d); err != nil {
		dp.Log.Warnf("could not write the backup of the serving template: %v", err)
	} else {
		res.BackupPath = path
		dp.Log.Infof("backup of revision %d (%s) written to %s", res.PreviousRevision, strings.Join(res.PreviousImages, ", "), path)
	}

	end = dp.Log.Group(fmt.Sprintf("Deploy %s to container %s", opts.Image, container))
	patched, err := dp.patch(ctx, opts, d, container, res)
	end()
	if err != nil {
		if ctx.Err() != nil {
			res.FailureReason = "cancelled while patching"
			dp.Log.Errorf("cancelled while patching: %s; run deploy again to converge", dp.state(ctx, opts))
		}
		return fail(err)
	}
	if opts.DryRun {
		res.Status = StatusSucceeded
		dp.Log.Infof("dry run: the API server accepted the change; nothing was changed")
		return res, nil
	}

	out, err := dp.verify(opts, "Rollout").Run(ctx, patched, start.Add(opts.Timeout))
	res.Verdict, res.TimeToVerdict = out.Verdict, out.Elapsed
	res.Diagnostics = out.Diagnostics
	if out.NewReplicaSet != nil {
		if n, _ := history.RevisionOf(out.NewReplicaSet); n > 0 {
			res.Revision = n
		}
	}
	if err != nil {
		res.FailureReason = "cancelled while waiting: " + out.Verdict.Progress.String()
		if ctx.Err() != nil {
			dp.Log.Errorf("cancelled while waiting for the rollout of %s: %s; no rollback was started; run deploy again to finish, or rollback to return to revision %d",
				opts.Image, dp.state(ctx, opts), res.PreviousRevision)
		}
		return fail(err)
	}
	c := verify.Conclude(out)
	res.Conclusion = c.Kind
	if c.Kind == verify.Verified {
		res.Status = StatusSucceeded
		if out.NewReplicaSet != nil {
			if err := history.MarkSuccessful(ctx, dp.Client, out.NewReplicaSet, dp.now()); err != nil {
				dp.Log.Warnf("%v", err)
			}
		}
		dp.Log.Infof("revision %d is serving %s: %s", res.Revision, opts.Image, out.Verdict.Message)
		return res, nil
	}
	return dp.failed(ctx, opts, sv, res, out, c)
}

// verify is the verification step of this deploy's rollouts.
func (dp *Deployer) verify(opts Options, group string) verify.Step {
	ro := opts.Rollout
	ro.FailFast = opts.FailFast
	return verify.Step{Client: dp.Client, Log: dp.Log, Now: dp.Now, Rollout: ro, HealthCheck: opts.HealthCheck, Recheck: opts.Recheck, Group: group}
}

// failed reports a rollout that did not verify and, when it is doomed,
// records it as failed and rolls back to the last good revision.
func (dp *Deployer) failed(ctx context.Context, opts Options, sv serving, res *Result, out verify.Outcome, c verify.Conclusion) (*Result, error) {
	res.FailureReason = c.Reason
	dp.Log.Errorf("rollout of %s failed after %s: %s", opts.Image, out.Elapsed.Round(100*time.Millisecond), out.Verdict.Message)
	cause := fmt.Errorf("rollout of %s failed: %s", opts.Image, res.FailureReason)
	if c.Kind != verify.Doomed {
		res.Advice = c.Advice
		dp.Log.Errorf("%s; %s", c.Advice, dp.state(ctx, opts))
		return res, cause
	}
	if out.NewReplicaSet != nil {
		if err := history.MarkFailed(ctx, dp.Client, out.NewReplicaSet, dp.now(), res.FailureReason); err != nil {
			dp.Log.Warnf("%v", err)
		}
	}
	if !opts.RollbackOnFailure || res.Unchanged {
		res.Advice = c.Advice
		dp.Log.Warnf("no rollback (rollback-on-failure is false or nothing was changed): the deployment is left as it is; %s", c.Advice)
		return res, cause
	}
	target, why := sv.target(out.NewReplicaSet)
	if target == nil {
		res.Advice = "no known-good revision to roll back to: " + why + "; fix the release and deploy again, or roll back by hand with the rollback action (to: a revision)"
		res.RollbackError = "no known-good revision"
		dp.Log.Errorf("%s", res.Advice)
		return res, fmt.Errorf("%w; no rollback: %s", cause, why)
	}
	res.RollbackTo = target.Number
	res.RollbackImages = target.Images
	dp.Log.Infof("rolling back to revision %d (%s)", target.Number, sv.describe(target))
	rbStart := dp.now()
	rb, err := dp.rollback(ctx, opts, target)
	res.RollbackDuration = dp.now().Sub(rbStart)
	prev := strings.Join(target.Images, ", ")
	if err != nil && ctx.Err() != nil {
		res.FailureReason = fmt.Sprintf("%s; cancelled while rolling back to revision %d", res.FailureReason, target.Number)
		res.RollbackError = "cancelled"
		dp.Log.Errorf("cancelled while rolling back: a rollback to revision %d (%s) was in flight; %s; to finish it run rollback with to: %s, or deploy %s (either waits for the rollout)",
			target.Number, prev, dp.state(ctx, opts), prev, prev)
		return res, fmt.Errorf("%w; cancelled while rolling back to revision %d: %w", cause, target.Number, err)
	}
	if err == nil && verify.Conclude(rb).Kind != verify.Verified {
		err = fmt.Errorf("revision %d did not verify: %s", target.Number, verify.Conclude(rb).Reason)
		res.RollbackDiagnostics = rb.Diagnostics
	}
	if err != nil {
		res.RollbackError = err.Error()
		dp.Log.Errorf("rollback failed: %v", err)
		return res, fmt.Errorf("%w; and the rollback to revision %d failed: %v", cause, target.Number, err)
	}
	res.Status, res.RolledBack = StatusRolledBack, true
	if rb.NewReplicaSet != nil {
		res.Revision, _ = history.RevisionOf(rb.NewReplicaSet)
		if err := history.MarkSuccessful(ctx, dp.Client, rb.NewReplicaSet, dp.now()); err != nil {
			dp.Log.Warnf("%v", err)
		}
	}
	dp.Log.Infof("rolled back in %s: %s is serving again (revision %d)", res.RollbackDuration.Round(100*time.Millisecond), prev, res.Revision)
	return res, cause
}

// rollback undoes to the target revision and verifies it like any rollout
// (with the health check), within a timeout of its own.
func (dp *Deployer) rollback(ctx context.Context, opts Options, target *history.Revision) (verify.Outcome, error) {
	d, err := dp.Client.AppsV1().Deployments(opts.Namespace).Get(ctx, opts.Deployment, metav1.GetOptions{})
	if err != nil {
		return verify.Outcome{}, fmt.Errorf("read deployment %s: %w", opts.Deployment, err)
	}
	// The target's number may have moved (the controller renumbers a reused ReplicaSet): find it by UID.
	revs, err := history.List(ctx, dp.Client, d)
	if err != nil {
		return verify.Outcome{}, err
	}
	n := target.Number
	for _, rv := range revs {
		if rv.ReplicaSet != nil && target.ReplicaSet != nil && rv.ReplicaSet.UID == target.ReplicaSet.UID {
			n = rv.Number
		}
	}
	u, err := history.Undo(ctx, dp.Client, d, n, false)
	if err != nil {
		return verify.Outcome{}, err
	}
	if u.Skipped {
		dp.Log.Infof("the deployment already runs revision %d's template", n)
	} else {
		dp.Log.Infof("restored revision %d's template (%s); waiting for its rollout", n, strings.Join(history.Images(&u.Deployment.Spec.Template), ", "))
	}
	return dp.verify(opts, fmt.Sprintf("Rollback to revision %d", n)).Run(ctx, u.Deployment, dp.now().Add(opts.Timeout))
}

// serving is what the Deployment ran when the deploy started: the revision
// serving complete and Available (presumed good) or why there was none, and
// its history.
type serving struct {
	good *history.Revision
	why  string
	revs []history.Revision
}

// target is the revision a failed deploy rolls back to: the one serving
// complete and Available when it started; else the newest verified one
// (never failed, never the failed rollout's own ReplicaSet).
func (sv serving) target(failed *appsv1.ReplicaSet) (*history.Revision, string) {
	other := func(rv history.Revision) bool {
		return rv.ReplicaSet != nil && (failed == nil || rv.ReplicaSet.UID != failed.UID)
	}
	if sv.good != nil && other(*sv.good) {
		return sv.good, ""
	}
	for i := range sv.revs { // newest first
		if rv := sv.revs[i]; rv.Successful && rv.Failed == "" && other(rv) {
			return &sv.revs[i], ""
		}
	}
	return nil, fmt.Sprintf("when the deploy started the deployment was not serving a good revision (%s), and no revision was ever verified", sv.why)
}

func (sv serving) describe(rv *history.Revision) string {
	if sv.good != nil && rv.Number == sv.good.Number {
		return "serving complete and Available when the deploy started"
	}
	return "the last verified revision; the deploy started from an unfinished or failing rollout"
}

// assess reads what serves before the change; a revision serving complete
// and Available that was never recorded as failed is presumed good and
// marked verified (so rollback to last-successful works on first adoption).
func (dp *Deployer) assess(ctx context.Context, d *appsv1.Deployment, dryRun bool) serving {
	revs, err := history.List(ctx, dp.Client, d)
	if err != nil {
		dp.Log.Warnf("could not read the revision history: %v", err)
		return serving{why: err.Error()}
	}
	var rss []*appsv1.ReplicaSet
	for _, rv := range revs {
		rss = append(rss, rv.ReplicaSet)
	}
	rs, why := history.Serving(d, rss)
	sv := serving{why: why, revs: revs}
	if rs == nil {
		dp.Log.Warnf("revision %s is not a known-good rollback target: %s", d.Annotations[history.RevisionAnnotation], why)
		return sv
	}
	for i := range revs {
		if revs[i].ReplicaSet.UID == rs.UID {
			sv.good = &revs[i]
		}
	}
	if sv.good == nil {
		return serving{why: "its ReplicaSet has no revision", revs: revs}
	}
	if !sv.good.Successful && !dryRun {
		if err := history.MarkSuccessful(ctx, dp.Client, rs, dp.now()); err != nil {
			dp.Log.Warnf("%v", err)
		} else {
			sv.good.Successful = true
			dp.Log.Infof("revision %d was serving complete and Available and was never recorded as failed: presumed good, marked verified", sv.good.Number)
		}
	}
	return sv
}

// state describes what the Deployment runs now (ctx may be cancelled).
func (dp *Deployer) state(ctx context.Context, opts Options) string {
	return rollout.State(ctx, dp.Client, opts.Namespace, opts.Deployment)
}

// permission is one verb the deploy uses.
type permission struct {
	group, resource, sub, verb string
	// optional permissions only degrade the report when missing.
	optional bool
}

func (p permission) String() string {
	r := p.resource
	if p.group != "" {
		r += "." + p.group
	}
	if p.sub != "" {
		r += "/" + p.sub
	}
	return p.verb + " " + r
}

func permissions(dryRun bool) []permission {
	ps := []permission{
		{"apps", "deployments", "", "get", false}, {"apps", "deployments", "", "patch", false},
		{"apps", "deployments", "", "list", false}, {"apps", "deployments", "", "watch", false},
		{"apps", "replicasets", "", "list", false}, {"apps", "replicasets", "", "watch", false},
		{"", "pods", "", "list", false}, {"", "pods", "", "watch", false},
		{"apps", "replicasets", "", "patch", true}, {"", "pods", "log", "get", true}, {"", "events", "", "list", true},
	}
	if !dryRun {
		ps = append(ps, permission{"coordination.k8s.io", "leases", "", "create", false}, permission{"coordination.k8s.io", "leases", "", "get", false},
			permission{"coordination.k8s.io", "leases", "", "update", false}, permission{"coordination.k8s.io", "leases", "", "delete", false})
	}
	return ps
}

// preflight checks everything before a change and takes the lock.
func (dp *Deployer) preflight(ctx context.Context, opts Options) (*appsv1.Deployment, string, *lock.Lock, error) {
	d, err := dp.Client.AppsV1().Deployments(opts.Namespace).Get(ctx, opts.Deployment, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, "", nil, fmt.Errorf("deployment %q not found in namespace %q", opts.Deployment, opts.Namespace)
	case apierrors.IsForbidden(err):
		return nil, "", nil, fmt.Errorf("not allowed to read deployment %s/%s: %w", opts.Namespace, opts.Deployment, err)
	case err != nil:
		return nil, "", nil, fmt.Errorf("cluster unreachable or failing: read deployment %s/%s: %w", opts.Namespace, opts.Deployment, err)
	}
	dp.Log.Infof("deployment %s/%s found: revision %s, %d replicas, images %s", opts.Namespace, opts.Deployment,
		d.Annotations[history.RevisionAnnotation], ptrOr(d.Spec.Replicas, 1), strings.Join(history.Images(&d.Spec.Template), ", "))
	if d.Spec.Paused {
		return nil, "", nil, fmt.Errorf("deployment %s is paused: resume it (kubectl rollout resume deployment/%s) or deploy after it is resumed", d.Name, d.Name)
	}
	container, err := PickContainer(d, opts.Container)
	if err != nil {
		return nil, "", nil, err
	}
	var missing, degraded []string
	for _, p := range permissions(opts.DryRun) {
		ok, err := dp.allowed(ctx, opts.Namespace, p)
		if err != nil {
			return nil, "", nil, fmt.Errorf("check permission %s: %w", p, err)
		}
		switch {
		case ok:
		case p.optional:
			degraded = append(degraded, p.String())
		default:
			missing = append(missing, p.String())
		}
	}
	if len(missing) > 0 {
		return nil, "", nil, fmt.Errorf("the deploy identity lacks permissions in namespace %s: %s (see examples/kubernetes/rbac.yaml)",
			opts.Namespace, strings.Join(missing, ", "))
	}
	if len(degraded) > 0 {
		dp.Log.Warnf("without %s the diagnostics of a failed rollout will be incomplete (see examples/kubernetes/rbac.yaml)", strings.Join(degraded, ", "))
	}
	dp.Log.Infof("permissions: ok (%d verbs checked)", len(permissions(opts.DryRun)))
	if opts.DryRun {
		if l, err := dp.Client.CoordinationV1().Leases(opts.Namespace).Get(ctx, lock.Name(opts.Deployment), metav1.GetOptions{}); err == nil && l.Spec.HolderIdentity != nil {
			dp.Log.Warnf("the deploy lock is held by %s (a real deploy would wait for it or need force)", *l.Spec.HolderIdentity)
		}
		return d, container, nil, nil
	}
	ttl := opts.Timeout*2 + 5*time.Minute // covers the rollout and a rollback
	lk, err := lock.Acquire(ctx, dp.Client, opts.Namespace, opts.Deployment,
		lock.Holder{ID: opts.Holder, Environment: opts.Environment, Action: "deploy", Target: opts.Image}, ttl, opts.Force)
	if err != nil {
		return nil, "", nil, err
	}
	switch {
	case lk.TookOver != nil:
		dp.Log.Warnf("force: took the deploy lock over from %s", lk.TookOver.Holder.ID)
	case lk.Expired != nil:
		dp.Log.Warnf("took over an expired deploy lock of %s (expired %s)", lk.Expired.Holder.ID, lk.Expired.Expires.UTC().Format(time.RFC3339))
	}
	dp.Log.Infof("deploy lock taken (lease %s)", lock.Name(opts.Deployment))
	if !opts.Progressive {
		settled, err := progressive.Settle(ctx, dp.Client, opts.Namespace, opts.Deployment)
		if err != nil {
			lk.Release(ctx)
			return nil, "", nil, err
		}
		if settled.Did() {
			dp.Log.Warnf("%s", settled)
		}
	}
	// Read again under the lock: the template we back up and patch is current.
	d, err = dp.Client.AppsV1().Deployments(opts.Namespace).Get(ctx, opts.Deployment, metav1.GetOptions{})
	if err != nil {
		lk.Release(ctx)
		return nil, "", nil, fmt.Errorf("read deployment %s: %w", opts.Deployment, err)
	}
	return d, container, lk, nil
}

func (dp *Deployer) allowed(ctx context.Context, ns string, p permission) (bool, error) {
	r, err := dp.Client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: ns, Group: p.group, Resource: p.resource, Subresource: p.sub, Verb: p.verb}}}, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return r.Status.Allowed, nil
}

// PickContainer is the container of d an image goes to: want, or the only
// container when want is empty (an error names the containers otherwise).
func PickContainer(d *appsv1.Deployment, want string) (string, error) {
	var names []string
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == want {
			return want, nil
		}
		names = append(names, c.Name)
	}
	switch {
	case want != "":
		return "", fmt.Errorf("deployment %s has no container %q; its containers are %s", d.Name, want, strings.Join(names, ", "))
	case len(names) == 1:
		return names[0], nil
	default:
		return "", fmt.Errorf("deployment %s has %d containers (%s): set the container input to the one to update", d.Name, len(names), strings.Join(names, ", "))
	}
}

// patch changes the container's image (and that of the init containers
// that run the same repository, with opts.InitContainers) and the
// change-cause. The strategic merge patch touches nothing else, and the lock
// keeps other erlmcp-deploy runs out, so no resourceVersion guard (status
// updates would trip it).
func (dp *Deployer) patch(ctx context.Context, opts Options, d *appsv1.Deployment, container string, res *Result) (*appsv1.Deployment, error) {
	var inits []string
	if opts.InitContainers {
		inits = SameRepositoryInits(d, container)
	}
	if runsImage(d.Spec.Template.Spec.Containers, container, opts.Image) && allRun(d.Spec.Template.Spec.InitContainers, inits, opts.Image) {
		res.Unchanged = true
		dp.Log.Infof("container %s already runs %s: nothing to patch; checking that the rollout is complete", container, opts.Image)
		return d, nil
	}
	patch, err := PatchBody(container, opts.Image, opts.ChangeCause, inits...)
	if err != nil {
		return nil, err
	}
	po := metav1.PatchOptions{FieldManager: "erlmcp-deploy"}
	if opts.DryRun {
		po.DryRun = []string{metav1.DryRunAll}
	}
	out, err := dp.Client.AppsV1().Deployments(opts.Namespace).Patch(ctx, opts.Deployment, types.StrategicMergePatchType, patch, po)
	if err != nil {
		return nil, fmt.Errorf("patch deployment %s: %w", opts.Deployment, err)
	}
	verb := "patched"
	if opts.DryRun {
		verb = "dry run: the API server would patch"
	}
	what := "container " + container
	if len(inits) > 0 {
		what += " and init container(s) " + strings.Join(inits, ", ")
	}
	dp.Log.Infof("%s %s: %s → %s (change-cause %q)", verb, what, strings.Join(res.PreviousImages, ", "), opts.Image, opts.ChangeCause)
	return out, nil
}

// SameRepositoryInits names the init containers of d that run the same image
// repository as container (a migration step shipped in the app's image):
// a deploy updates them with it.
func SameRepositoryInits(d *appsv1.Deployment, container string) []string {
	var repo string
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == container {
			repo = repository(c.Image)
		}
	}
	var out []string
	for _, c := range d.Spec.Template.Spec.InitContainers {
		if repo != "" && repository(c.Image) == repo {
			out = append(out, c.Name)
		}
	}
	return out
}

// repository is an image reference without its tag and digest ("" when unparsable).
func repository(image string) string {
	r, err := imageref.Parse(image)
	if err != nil {
		return ""
	}
	return r.Name()
}

func runsImage(cs []corev1.Container, name, image string) bool {
	for _, c := range cs {
		if c.Name == name {
			return c.Image == image
		}
	}
	return false
}

func allRun(cs []corev1.Container, names []string, image string) bool {
	for _, n := range names {
		if !runsImage(cs, n, image) {
			return false
		}
	}
	return true
}

// PatchBody is the strategic merge patch of a deploy: one container's image
// (and the given init containers'), and the change-cause; the verified and
// failed marks a rolled-back Deployment may carry (copied from an old
// ReplicaSet) are cleared.
func PatchBody(container, image, changeCause string, initContainers ...string) ([]byte, error) {
	spec := map[string]any{"containers": []map[string]any{{"name": container, "image": image}}}
	if len(initContainers) > 0 {
		var inits []map[string]any
		for _, n := range initContainers {
			inits = append(inits, map[string]any{"name": n, "image": image})
		}
		spec["initContainers"] = inits
	}
	return json.Marshal(map[string]any{
		"metadata": map[string]any{
			"annotations": map[string]any{
				history.ChangeCauseAnnotation: changeCause,
				history.SuccessfulAnnotation:  nil,
				history.FailedAnnotation:      nil,
			},
		},
		"spec": map[string]any{"template": map[string]any{"spec": spec}},
	})
}

// writeBackup saves the serving pod template so a human can restore it by hand.
func writeBackup(opts Options, d *appsv1.Deployment) (string, error) {
	dir := opts.BackupDir
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	rev := d.Annotations[history.RevisionAnnotation]
	b, err := json.MarshalIndent(map[string]any{
		"namespace": d.Namespace, "deployment": d.Name, "revision": rev, "resourceVersion": d.ResourceVersion,
		"images": history.Images(&d.Spec.Template), "template": d.Spec.Template,
	}, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("erlmcp-deploy-backup-%s-%s-rev%s.json", d.Namespace, d.Name, rev))
	if err := os.WriteFile(path, b, 0o600); err != nil { // the template may hold literal env values
		return "", err
	}
	return path, nil
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// IsPreflight reports whether err was found before anything changed.
func IsPreflight(err error) bool {
	var pe *PreflightError
	return errors.As(err, &pe)
}
