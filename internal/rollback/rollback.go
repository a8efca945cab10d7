// Package rollback lists a Deployment's revisions and rolls it back to the
// previous, the last successful, a numbered revision or the revision that
// ran an image, with kubectl's undo semantics (package history) and the
// deploy's fail-fast watcher (package rollout). A manifest release is rolled
// back as a whole instead (ReleaseRoller): its history is the release
// inventory, and a revision is restored by the apply engine.
package rollback

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/org/erlmcp-deploy/internal/diagnose"
	"github.com/org/erlmcp-deploy/internal/history"
	"github.com/org/erlmcp-deploy/internal/lock"
	"github.com/org/erlmcp-deploy/internal/rollout"
	"github.com/org/erlmcp-deploy/internal/ui"
	"github.com/org/erlmcp-deploy/internal/verify"
)

// Status is the outcome reported in the `status` output.
type Status string

// Outcomes of a rollback.
const (
	StatusSucceeded Status = "succeeded"
	StatusUnchanged Status = "unchanged"
	StatusListed    Status = "listed"
	StatusFailed    Status = "failed"
)

// Targets that are not a revision number or an image.
const (
	ToPrevious       = "previous"
	ToLastSuccessful = "last-successful"
)

// Options are one rollback's settings.
type Options struct {
	Environment string
	Namespace   string
	Deployment  string
	// Container scopes `to: <image>` to one container ("" = any).
	Container string
	// To is previous, last-successful, a revision number or an image reference.
	To          string
	Timeout     time.Duration
	DryRun      bool
	Holder      string
	HealthCheck func(ctx context.Context) error
	// Rollout tunes the fail-fast watcher (FailFast is always on).
	Rollout rollout.Options
	// Mask, when set, is given the literal credentials of every revision's
	// pod template (diagnose.SecretValues), which pod logs may echo.
	Mask func(string)
}

// Result is what a rollback (or a listing) found and did.
type Result struct {
	Status       Status
	History      []history.Revision
	FromRevision int64
	Revision     int64
	Target       *history.Revision
	Images       []string
	FromImages   []string
	Duration     time.Duration
	Verdict      rollout.Verdict
	Diagnostics  *diagnose.Report
	DryRun       bool
	// Message says what happened in one line.
	Message string
	// from is the ReplicaSet that served before (nil when none).
	from *appsv1.ReplicaSet
}

// Roller runs rollbacks against one cluster.
type Roller struct {
	Client kubernetes.Interface
	Log    ui.Logger
	Now    func() time.Time
}

func (r *Roller) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// List reads the Deployment and its history, newest first.
func (r *Roller) List(ctx context.Context, namespace, name string) (*appsv1.Deployment, []history.Revision, error) {
	d, err := r.Client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil, fmt.Errorf("deployment %q not found in namespace %q", name, namespace)
	case err != nil:
		return nil, nil, fmt.Errorf("read deployment %s/%s: %w", namespace, name, err)
	}
	revs, err := history.List(ctx, r.Client, d)
	if err != nil {
		return nil, nil, err
	}
	return d, revs, nil
}

// Resolve picks the target revision of `to` from a history (newest first).
func Resolve(revs []history.Revision, to, container string, d *appsv1.Deployment) (history.Revision, error) {
	var current *history.Revision
	for i := range revs {
		if revs[i].Current {
			current = &revs[i]
		}
	}
	others := func(keep func(history.Revision) bool) []history.Revision {
		var out []history.Revision
		for _, rv := range revs {
			if !rv.Current && keep(rv) {
				out = append(out, rv)
			}
		}
		return out
	}
	switch to {
	case "", ToPrevious:
		c := others(func(history.Revision) bool { return true })
		if len(c) == 0 {
			return history.Revision{}, fmt.Errorf("deployment %s has no revision before the current one", d.Name)
		}
		if current != nil {
			for _, rv := range c { // the highest revision below the current one
				if rv.Number < current.Number {
					return rv, nil
				}
			}
		}
		return c[0], nil
	case ToLastSuccessful:
		c := others(func(rv history.Revision) bool { return rv.Successful })
		if len(c) == 0 {
			return history.Revision{}, fmt.Errorf("deployment %s has no successful revision other than the current one (deploy marks a revision successful when its rollout is verified, or when it finds it serving complete and Available; a failed or rolled-back-from revision never counts); history: %s",
				d.Name, Table(revs))
		}
		return c[0], nil
	}
	if n, err := strconv.ParseInt(to, 10, 64); err == nil {
		return history.Find(revs, n)
	}
	if !strings.ContainsAny(to, ":@") {
		return history.Revision{}, fmt.Errorf("%q is not previous, last-successful, a revision number or an image reference", to)
	}
	for _, rv := range revs { // newest first
		for i, img := range rv.Images {
			if img != to {
				continue
			}
			if container == "" || containerName(rv, i) == container {
				return rv, nil
			}
		}
	}
	return history.Revision{}, fmt.Errorf("no revision of deployment %s ran %s; revisions: %s", d.Name, to, Table(revs))
}

func containerName(rv history.Revision, i int) string {
	if rv.ReplicaSet == nil || i >= len(rv.ReplicaSet.Spec.Template.Spec.Containers) {
		return ""
	}
	return rv.ReplicaSet.Spec.Template.Spec.Containers[i].Name
}

// Table renders a history in one line per revision (for errors and logs).
func Table(revs []history.Revision) string {
	var b strings.Builder
	for _, rv := range revs {
		fmt.Fprintf(&b, "\n  %d  %s", rv.Number, strings.Join(rv.Images, ","))
		if rv.Current {
			b.WriteString("  (current)")
		}
		if rv.Successful {
			b.WriteString("  (successful)")
		}
		if rv.Failed != "" {
			b.WriteString("  (failed)")
		}
		if rv.ChangeCause != "" {
			b.WriteString("  " + rv.ChangeCause)
		}
	}
	return b.String()
}

// Run rolls back. The error is nil when the target serves (or already did).
func (r *Roller) Run(ctx context.Context, opts Options) (*Result, error) {
	res, err := r.run(ctx, opts)
	if err != nil && ctx.Err() != nil && res.Message == "" { // stopped before the undo patch was made
		res.Message = "cancelled before the rollback started: nothing was changed"
		r.Log.Errorf("%s (%s)", res.Message, r.state(ctx, opts))
	}
	return res, err
}

func (r *Roller) run(ctx context.Context, opts Options) (*Result, error) {
	start := r.now()
	res := &Result{Status: StatusFailed, DryRun: opts.DryRun}
	defer func() { res.Duration = r.now().Sub(start) }()

	end := r.Log.Group(fmt.Sprintf("Rollback plan: deployment %s/%s (%s)", opts.Namespace, opts.Deployment, opts.Environment))
	d, revs, err := r.List(ctx, opts.Namespace, opts.Deployment)
	if err != nil {
		end()
		return res, err
	}
	res.History = revs
	diagnose.MaskSecrets(opts.Mask, append([]*corev1.PodTemplateSpec{&d.Spec.Template}, templates(revs)...)...)
	res.FromRevision, _ = history.RevisionOf(d)
	res.Revision, res.FromImages, res.Images = res.FromRevision, history.Images(&d.Spec.Template), history.Images(&d.Spec.Template)
	if d.Spec.Paused {
		end()
		return res, fmt.Errorf("deployment %s is paused: resume it (kubectl rollout resume deployment/%s) before rolling back; nothing was changed", d.Name, d.Name)
	}
	target, err := Resolve(revs, opts.To, opts.Container, d)
	if err != nil {
		end()
		return res, fmt.Errorf("%w; nothing was changed", err)
	}
	res.Target = &target
	for _, rv := range revs {
		if rv.Current {
			res.from = rv.ReplicaSet
		}
	}
	r.Log.Infof("current: revision %d (%s); target: revision %d (%s)%s", res.FromRevision, strings.Join(res.FromImages, ", "),
		target.Number, strings.Join(target.Images, ", "), describe(target))
	if target.Current || history.EqualIgnoreHash(&target.ReplicaSet.Spec.Template, &d.Spec.Template) {
		end()
		res.Status = StatusUnchanged
		res.Message = fmt.Sprintf("deployment %s already runs revision %d's template: nothing to roll back", d.Name, target.Number)
		r.Log.Infof("%s", res.Message)
		if _, done, _ := rollout.DeploymentStatus(d); done || opts.DryRun {
			return res, nil
		}
		// A rollback stopped half-way (a cancelled run) converges here: wait for it.
		return r.wait(ctx, opts, start, d, target, res)
	}
	var lk *lock.Lock
	if !opts.DryRun {
		lk, err = lock.Acquire(ctx, r.Client, opts.Namespace, opts.Deployment,
			lock.Holder{ID: opts.Holder, Environment: opts.Environment, Action: "rollback", Target: fmt.Sprintf("revision %d", target.Number)},
			opts.Timeout*2+5*time.Minute, false)
		if err != nil {
			end()
			return res, fmt.Errorf("%w; nothing was changed", err)
		}
		ctx = lk.Hold(ctx)
		defer func() {
			if err := lk.Release(ctx); err != nil {
				r.Log.Warnf("%v", err)
			}
			if lost := lk.Lost(); lost != nil {
				r.Log.Errorf("%v", lost)
			}
		}()
		if lk.Expired != nil {
			r.Log.Warnf("took over an expired deploy lock of %s", lk.Expired.Holder.ID)
		}
		// Read again under the lock so the patch's resourceVersion guard is current.
		if d, err = r.Client.AppsV1().Deployments(opts.Namespace).Get(ctx, opts.Deployment, metav1.GetOptions{}); err != nil {
			end()
			return res, fmt.Errorf("read deployment %s: %w", opts.Deployment, err)
		}
	}
	u, err := history.Undo(ctx, r.Client, d, target.Number, opts.DryRun)
	end()
	if err != nil {
		return res, err
	}
	if opts.DryRun {
		res.Status = StatusSucceeded
		res.Message = fmt.Sprintf("dry run: the API server accepted the rollback to revision %d; nothing was changed", target.Number)
		r.Log.Infof("%s", res.Message)
		return res, nil
	}

	return r.wait(ctx, opts, start, u.Deployment, target, res)
}

// wait verifies the rollout of target's template in d (the one verify
// step: wait, health check, diagnostics) and reports.
func (r *Roller) wait(ctx context.Context, opts Options, start time.Time, d *appsv1.Deployment, target history.Revision, res *Result) (*Result, error) {
	unchanged := res.Status == StatusUnchanged
	res.Status = StatusFailed // until the verdict says otherwise
	ro := opts.Rollout
	ro.FailFast = true
	out, err := verify.Step{Client: r.Client, Log: r.Log, Now: r.Now, Rollout: ro, HealthCheck: opts.HealthCheck,
		Group: fmt.Sprintf("Rollout of revision %d", target.Number)}.Run(ctx, d, start.Add(opts.Timeout))
	res.Verdict, res.Diagnostics = out.Verdict, out.Diagnostics
	if out.NewReplicaSet != nil {
		res.Revision, _ = history.RevisionOf(out.NewReplicaSet)
	}
	if err != nil {
		if ctx.Err() != nil {
			res.Message = fmt.Sprintf("cancelled while rolling back to revision %d: the rollback was in flight", target.Number)
			images := strings.Join(target.Images, ", ")
			r.Log.Errorf("%s; %s; to finish it run rollback with to: %s (it waits for the rollout)", res.Message, r.state(ctx, opts), images)
		}
		return res, err
	}
	c := verify.Conclude(out)
	if unchanged && c.Kind != verify.Verified {
		res.Status = StatusUnchanged // nothing to roll back, as asked; but say what is wrong with it
		r.Log.Warnf("revision %d is current but its rollout fails: %s; roll back to another revision", target.Number, c.Reason)
		return res, nil
	}
	if c.Kind != verify.Verified {
		res.Message = fmt.Sprintf("the rollback to revision %d failed: %s", target.Number, c.Reason)
		if c.Kind != verify.Doomed {
			r.Log.Errorf("%s", c.Advice)
		}
		return res, errors.New(res.Message)
	}
	res.Status, res.Images = StatusSucceeded, target.Images
	res.Message = fmt.Sprintf("rolled back from revision %d (%s) to revision %d's template (%s), now revision %d",
		res.FromRevision, strings.Join(res.FromImages, ", "), target.Number, strings.Join(target.Images, ", "), res.Revision)
	if unchanged {
		res.Status = StatusUnchanged
		res.Message = fmt.Sprintf("deployment %s already ran revision %d's template (%s); its rollout has now finished", opts.Deployment, target.Number, strings.Join(target.Images, ", "))
	}
	r.Log.Infof("%s", res.Message)
	if out.NewReplicaSet != nil {
		if err := history.MarkSuccessful(ctx, r.Client, out.NewReplicaSet, r.now()); err != nil {
			r.Log.Warnf("%v", err)
		}
	}
	if !unchanged && res.from != nil {
		// What we rolled back from was judged bad: never a last-successful target again.
		if err := history.MarkFailed(ctx, r.Client, res.from, r.now(), "rolled back from by "+opts.Holder); err != nil {
			r.Log.Warnf("%v", err)
		} else {
			r.Log.Infof("revision %d (rolled back from) is recorded as failed", res.FromRevision)
		}
	}
	if res.History, err = history.List(ctx, r.Client, out.Deployment); err != nil {
		r.Log.Warnf("%v", err)
	}
	return res, nil
}

func templates(revs []history.Revision) []*corev1.PodTemplateSpec {
	var out []*corev1.PodTemplateSpec
	for _, rv := range revs {
		if rv.ReplicaSet != nil {
			out = append(out, &rv.ReplicaSet.Spec.Template)
		}
	}
	return out
}

// state describes what the Deployment runs now (ctx may be cancelled).
func (r *Roller) state(ctx context.Context, opts Options) string {
	return rollout.State(ctx, r.Client, opts.Namespace, opts.Deployment)
}

func describe(rv history.Revision) string {
	var notes []string
	if rv.Successful {
		notes = append(notes, "verified successful")
	}
	if rv.ChangeCause != "" {
		notes = append(notes, rv.ChangeCause)
	}
	if len(notes) == 0 {
		return ""
	}
	return " — " + strings.Join(notes, "; ")
}

// Rows renders a history as table rows: revision, images, created, change-cause, notes.
func Rows(revs []history.Revision) [][]string {
	rows := make([][]string, len(revs))
	for i, rv := range revs {
		var notes []string
		if rv.Current {
			notes = append(notes, "current")
		}
		if rv.Successful {
			notes = append(notes, "successful")
		}
		if rv.Failed != "" {
			notes = append(notes, "failed: "+rv.Failed)
		}
		rows[i] = []string{strconv.FormatInt(rv.Number, 10), strings.Join(rv.Images, ", "), rv.Created.UTC().Format(time.RFC3339),
			rv.ChangeCause, strings.Join(notes, ", ")}
	}
	return rows
}

// Header names the columns of Rows.
var Header = []string{"REVISION", "IMAGES", "CREATED", "CHANGE-CAUSE", ""}
