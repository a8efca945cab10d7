package canary

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/org/erlmcp-deploy/internal/analysis"
	"github.com/org/erlmcp-deploy/internal/deploy"
	"github.com/org/erlmcp-deploy/internal/diagnose"
	"github.com/org/erlmcp-deploy/internal/history"
	"github.com/org/erlmcp-deploy/internal/lock"
	"github.com/org/erlmcp-deploy/internal/progressive"
	"github.com/org/erlmcp-deploy/internal/rollout"
	"github.com/org/erlmcp-deploy/internal/ui"
	"github.com/org/erlmcp-deploy/internal/verify"
)

// Options are one canary's settings.
type Options struct {
	// Deploy is the image deploy the promotion runs (and where the canary goes).
	Deploy deploy.Options
	// Steps are the canary's sizes, in percent of stable's replicas.
	Steps []int
	// Interval between measurements, and Count of measurements per step.
	Interval time.Duration
	Count    int
	// Analysis judges each step (nil: only the fail-fast verdict does).
	Analysis *analysis.Spec
	Source   analysis.Source
	// Baseline also runs <deployment>-baseline on the old image (forced when
	// an analysis metric compares with a baseline).
	Baseline bool
	// Decision resumes a canary that waits for a person: "promote" or "abort".
	Decision string
	// Checks, when set, runs in each step once the canary is verified, before
	// the analysis, against the canary's pods only (deployment is the canary's
	// Deployment, <deployment>-canary); an error aborts the canary.
	Checks func(ctx context.Context, deployment string) error
	// Release, when set, is a manifest release's canary: each of its
	// Deployments gets a canary running the release's pod template (not
	// stable's with the image replaced), and Promote replaces the rolling
	// deploy of the stable Deployment.
	Release *Release
}

// Release is what a manifest release changes, for its canary.
type Release struct {
	// Templates are the release's Deployments whose pod template changes, as
	// the release would apply them; one of them is Deploy.Deployment (the
	// canary's state, lock and analysis belong to it).
	Templates []*appsv1.Deployment
	// Promote applies the release as a whole (with its own verdict and rollback).
	Promote func(ctx context.Context) (*deploy.Result, error)
	// Prepare, when set, creates what the canaries' pods need (the release's
	// new ConfigMaps, Secrets, ...) once the canary holds the lock, and
	// returns what it created (also on error): they are recorded in the
	// canary's state, so an abort — or the next run after a cancelled one —
	// removes them once the canaries are gone; a promotion keeps them.
	Prepare func(ctx context.Context) ([]progressive.Ref, error)
}

// unit is one stable Deployment and how its canary and baseline are built.
type unit struct {
	stable           *appsv1.Deployment
	canary, baseline func(replicas int32) *appsv1.Deployment
}

// StepResult is what one step saw.
type StepResult struct {
	Percent        int
	Canary, Stable int32
	Verdict        string
	// ChecksFailed is why the canary's checks (Options.Checks) failed.
	ChecksFailed string
	// Unsteady is why the canary's pods stopped being steady during the bake.
	Unsteady string
	Analysis *analysis.Result
	Elapsed  time.Duration
}

// Result is a canary's outcome: the promotion's deploy result, or an abort.
type Result struct {
	// Deploy is the promotion's result (Status aborted when the canary was aborted).
	Deploy *deploy.Result
	Steps  []StepResult
	// AbortReason is why the canary was aborted ("" otherwise).
	AbortReason string
	// Waiting: the analysis was inconclusive and a person decides.
	Waiting bool
	// MaxShare is the largest share of pods that ever ran the new image before promotion.
	MaxShare float64
	// TimeToAbort is from the canary's creation to its deletion.
	TimeToAbort time.Duration
	// Cleaned says what a previous, unfinished canary left and this run removed.
	Cleaned     string
	Diagnostics *diagnose.Report
}

// Canary runs canaries against one cluster.
type Canary struct {
	Client   kubernetes.Interface
	Log      ui.Logger
	Now      func() time.Time
	Deployer *deploy.Deployer
}

func (c *Canary) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Run rolls opts.Deploy.Image out as a canary: under the deploy lock it
// first undoes what an unfinished canary or blue-green left
// (progressive.Settle), then each step sizes the canary, verifies it
// (fail-fast), and holds it for its bake time while the checks and the
// analysis run and the canary's pods are watched; a failure aborts (stable
// untouched), success through the last step promotes it.
func (c *Canary) Run(ctx context.Context, opts Options) (_ *Result, err error) {
	o := opts.Deploy
	res := &Result{Deploy: &deploy.Result{Image: o.Image, Digest: o.Digest, Status: deploy.StatusFailed}}
	start := c.now()
	defer func() { res.Deploy.Duration = c.now().Sub(start) }()

	end := c.Log.Group(fmt.Sprintf("Canary pre-flight: deployment %s/%s (%s)", o.Namespace, o.Deployment, o.Environment))
	stable, err := c.Client.AppsV1().Deployments(o.Namespace).Get(ctx, o.Deployment, metav1.GetOptions{})
	if err != nil {
		end()
		return res, fmt.Errorf("read deployment %s/%s: %w (nothing was changed)", o.Namespace, o.Deployment, err)
	}
	state, err := ReadState(stable)
	if err != nil {
		end()
		return res, err
	}
	if opts.Decision != "" {
		if err := c.checkDecision(ctx, opts, stable, state); err != nil {
			end()
			return res, err
		}
	}
	if opts.Decision == "" && ptrOr(stable.Spec.Replicas, 1) == 0 {
		end()
		return res, fmt.Errorf("deployment %s has 0 replicas: a canary of it would take all of its traffic; deploy with strategy: rolling, or scale it first (nothing was changed)", o.Deployment)
	}
	lk, err := lock.Acquire(ctx, c.Client, o.Namespace, o.Deployment,
		lock.Holder{ID: o.Holder, Environment: o.Environment, Action: "canary", Target: o.Image}, o.Timeout*3+5*time.Minute, o.Force)
	if err != nil {
		end()
		return res, fmt.Errorf("%w (nothing was changed)", err)
	}
	ctx = lk.Hold(ctx)
	released := false
	release := func() {
		if !released {
			released = true
			if err := lk.Release(context.WithoutCancel(ctx)); err != nil {
				c.Log.Warnf("%v", err)
			}
		}
	}
	defer func() {
		release()
		if lost := lk.Lost(); lost != nil && err != nil {
			c.Log.Errorf("%v; the canary is left as it is, for the run that holds the lock now", lost)
			res.Deploy.Status, res.Deploy.FailureReason = deploy.StatusFailed, lost.Error()
			err = fmt.Errorf("%w (%w)", lost, err)
		}
	}()
	if opts.Decision != "" {
		end()
		return c.decide(ctx, opts, res, release)
	}
	settled, err := progressive.Settle(ctx, c.Client, o.Namespace, o.Deployment)
	if err != nil {
		end()
		return res, err
	}
	if settled.Did() {
		res.Cleaned = settled.String()
		c.Log.Warnf("%s", res.Cleaned)
		if stable, err = c.Client.AppsV1().Deployments(o.Namespace).Get(ctx, o.Deployment, metav1.GetOptions{}); err != nil {
			end()
			return res, err
		}
	}
	res.Deploy.PreviousImages = imagesOf(stable)
	units, err := c.units(ctx, opts, stable)
	if err != nil {
		end()
		return res, fmt.Errorf("%w (nothing was changed)", err)
	}
	for _, u := range units {
		if counted := c.countedBy(ctx, u.stable, u.canary(1).Spec.Template.Labels); len(counted) > 0 {
			c.Log.Warnf("the canary's pods of %s also count in %s: stable's selector matches them (docs/canary.md)", u.stable.Name, strings.Join(counted, ", "))
		}
	}
	if stable.Status.AvailableReplicas < ptrOr(stable.Spec.Replicas, 1) {
		c.Log.Warnf("stable is not fully available (%s): the canary is compared with a degraded service", rollout.Describe(stable))
	}
	end()

	baseline := opts.Baseline || (opts.Analysis != nil && opts.Analysis.NeedsBaseline())
	st := State{Strategy: progressive.StrategyCanary, Image: o.Image, Run: o.Holder, Started: c.now(), Identity: identity(units), Step: 1, Percent: opts.Steps[0]}
	for _, u := range units {
		st.Workloads = append(st.Workloads, u.stable.Name+"-"+TrackCanary)
		if baseline {
			st.Workloads = append(st.Workloads, u.stable.Name+"-"+TrackBaseline)
		}
	}
	canaryStart := c.now()
	if opts.Release != nil && opts.Release.Prepare != nil {
		created, err := opts.Release.Prepare(ctx)
		st.Created = created
		if rerr := c.record(context.WithoutCancel(ctx), o, &st); rerr != nil {
			return res, errors.Join(err, rerr)
		}
		if err != nil {
			if ctx.Err() != nil {
				return res, err
			}
			return c.abort(ctx, opts, res, canaryStart, "preparing the canary failed: "+err.Error())
		}
	}
	for i, pct := range opts.Steps {
		st.Step, st.Percent = i+1, pct
		if err := c.record(ctx, o, &st); err != nil {
			return res, err
		}
		sr, out, err := c.step(ctx, opts, units, pct, baseline)
		res.Steps = append(res.Steps, sr)
		res.MaxShare = max(res.MaxShare, Share(sr.Canary, sr.Stable))
		if err != nil {
			if ctx.Err() != nil && lk.Lost() == nil {
				c.Log.Errorf("cancelled during canary step %d (%d%%): the canary is left running and recorded on deployment %s; the next deploy or the rollback action (to: cleanup) removes it",
					i+1, pct, o.Deployment)
			}
			return res, err
		}
		switch {
		case sr.Verdict != "":
			res.Deploy.Diagnostics = out.Diagnostics
			return c.abort(ctx, opts, res, canaryStart, fmt.Sprintf("step %d (%d%%): the canary's rollout failed: %s", i+1, pct, sr.Verdict))
		case sr.Unsteady != "":
			res.Deploy.Diagnostics = out.Diagnostics
			return c.abort(ctx, opts, res, canaryStart, fmt.Sprintf("step %d (%d%%): %s", i+1, pct, sr.Unsteady))
		case sr.ChecksFailed != "":
			res.Deploy.CauseClass = diagnose.CanaryChecks
			return c.abort(ctx, opts, res, canaryStart, fmt.Sprintf("step %d (%d%%): canary checks failed: %s", i+1, pct, sr.ChecksFailed))
		case sr.Analysis != nil && sr.Analysis.Outcome == analysis.Fail:
			res.Deploy.CauseClass = diagnose.Analysis
			return c.abort(ctx, opts, res, canaryStart, fmt.Sprintf("step %d (%d%%): %s", i+1, pct, sr.Analysis.Reason))
		case sr.Analysis != nil && sr.Analysis.Outcome == analysis.Inconclusive:
			if opts.Analysis.Inconclusive == "wait" {
				st.Waiting, st.Reason = true, sr.Analysis.Reason
				if err := c.record(ctx, o, &st); err != nil {
					return res, err
				}
				res.Waiting = true
				res.Deploy.Status = deploy.StatusPaused
				res.Deploy.FailureReason = sr.Analysis.Reason
				res.Deploy.Advice = "the canary is left running: run deploy again with the same image and canary-decision: promote (or abort) once a person has looked"
				c.Log.Warnf("canary step %d (%d%%) inconclusive: %s; %s", i+1, pct, sr.Analysis.Reason, res.Deploy.Advice)
				return res, fmt.Errorf("canary of %s inconclusive at step %d: waiting for a decision", o.Image, i+1)
			}
			res.Deploy.CauseClass = diagnose.Analysis
			return c.abort(ctx, opts, res, canaryStart, fmt.Sprintf("step %d (%d%%) inconclusive (inconclusive: abort): %s", i+1, pct, sr.Analysis.Reason))
		}
		c.Log.Infof("canary step %d (%d%%, %d canary / %d stable pods) passed after %s", i+1, pct, sr.Canary, sr.Stable, sr.Elapsed.Round(100*time.Millisecond))
	}
	return c.promote(ctx, opts, res, &st, release)
}

// identity is a digest of the canaries' pod templates: what the canary tries.
func identity(units []unit) string {
	h := sha256.New()
	for _, u := range units {
		raw, _ := json.Marshal(u.canary(1).Spec.Template)
		h.Write(raw)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// units are the stable Deployments the canary runs next to: the one of an
// image deploy (its canary on the new image), or a release's changed ones
// (their canaries on the release's pod templates).
func (c *Canary) units(ctx context.Context, opts Options, stable *appsv1.Deployment) ([]unit, error) {
	o := opts.Deploy
	if opts.Release == nil {
		container, err := deploy.PickContainer(stable, o.Container)
		if err != nil {
			return nil, err
		}
		var inits []string
		if o.InitContainers {
			inits = deploy.SameRepositoryInits(stable, container)
		}
		return []unit{{stable: stable,
			canary: func(n int32) *appsv1.Deployment { return Workload(stable, TrackCanary, o.Image, container, inits, n) },
			baseline: func(n int32) *appsv1.Deployment {
				return Workload(stable, TrackBaseline, imageOf(stable, container), container, nil, n)
			},
		}}, nil
	}
	var out []unit
	for _, t := range opts.Release.Templates {
		live := stable
		if t.Name != stable.Name {
			var err error
			if live, err = c.Client.AppsV1().Deployments(o.Namespace).Get(ctx, t.Name, metav1.GetOptions{}); err != nil {
				return nil, fmt.Errorf("read deployment %s/%s: %w", o.Namespace, t.Name, err)
			}
		}
		of := func(d *appsv1.Deployment) *appsv1.Deployment {
			d.Labels[OfLabel] = stable.Name // so the clean-up of the release's canary finds them all
			return d
		}
		t := t
		out = append(out, unit{stable: live,
			canary:   func(n int32) *appsv1.Deployment { return of(Workload(t, TrackCanary, "", "", nil, n)) },
			baseline: func(n int32) *appsv1.Deployment { return of(Workload(live, TrackBaseline, "", "", nil, n)) },
		})
	}
	return out, nil
}

// step sizes the canaries (and baselines), verifies them, runs the checks and the analysis.
func (c *Canary) step(ctx context.Context, opts Options, units []unit, pct int, baseline bool) (StepResult, verify.Outcome, error) {
	o := opts.Deploy
	stepStart := c.now()
	var sr StepResult
	var cans []*appsv1.Deployment
	sr.Percent = pct
	for i, u := range units {
		desired := ptrOr(u.stable.Spec.Replicas, 1)
		if cur, err := c.Client.AppsV1().Deployments(o.Namespace).Get(ctx, u.stable.Name, metav1.GetOptions{}); err == nil {
			desired = ptrOr(cur.Spec.Replicas, 1) // an HPA may have moved it
		}
		n := Replicas(pct, desired)
		if i == 0 {
			sr.Canary, sr.Stable = n, desired
		}
		title := fmt.Sprintf("Canary step %d%%: %d canary pod(s) of %s next to %d stable", pct, n, o.Image, desired)
		if opts.Release != nil {
			title = fmt.Sprintf("Canary step %d%%: %d pod(s) of deployment %s-%s next to %d of %s", pct, n, u.stable.Name, TrackCanary, desired, u.stable.Name)
		}
		end := c.Log.Group(title)
		can, err := c.ensure(ctx, u.canary(n))
		if err == nil && baseline {
			_, err = c.ensure(ctx, u.baseline(n))
		}
		end()
		if err != nil {
			return sr, verify.Outcome{}, err
		}
		cans = append(cans, can)
	}
	ro := o.Rollout
	ro.FailFast = o.FailFast
	var out verify.Outcome
	for _, can := range cans {
		step := verify.Step{Client: c.Client, Log: c.Log, Now: c.Now, Rollout: ro, Recheck: o.Recheck, Group: fmt.Sprintf("Canary step %d%%: rollout of %s", pct, can.Name)}
		var err error
		if out, err = step.Run(ctx, can, c.now().Add(o.Timeout)); err != nil {
			return sr, out, err
		}
		if k := verify.Conclude(out); k.Kind != verify.Verified {
			sr.Verdict = k.Reason
			if len(cans) > 1 {
				sr.Verdict = can.Name + ": " + k.Reason
			}
			sr.Elapsed = c.now().Sub(stepStart)
			return sr, out, nil
		}
	}
	// The step holds for its bake time, the canaries' pods watched
	// throughout, while the checks and the analysis run.
	interval, count := opts.schedule()
	until := c.now().Add(interval * time.Duration(count))
	jctx, judged := context.WithCancel(ctx)
	defer judged()
	type baked struct {
		problem string
		rep     *diagnose.Report
	}
	bakeDone := make(chan baked, 1)
	unsteady := make(chan struct{})
	bctx, stopBake := context.WithCancel(ctx)
	defer stopBake()
	go func() {
		p, rep := c.bake(bctx, cans, until, ro)
		if p != "" {
			close(unsteady)
			judged()
		}
		bakeDone <- baked{p, rep}
	}()
	c.Log.Infof("canary step %d%%: held for its bake, %s (until %s), the canary's pods watched", pct, interval*time.Duration(count), until.UTC().Format(time.TimeOnly))
	sr, jerr := c.judge(jctx, opts, cans[0], pct, stepStart, sr)
	select {
	case <-unsteady:
	default:
		if jerr != nil || sr.ChecksFailed != "" || (sr.Analysis != nil && sr.Analysis.Outcome != analysis.Pass) {
			stopBake() // the step ends here: no need to bake on
		}
	}
	b := <-bakeDone
	sr.Elapsed = c.now().Sub(stepStart)
	if b.problem != "" {
		sr.Unsteady, sr.ChecksFailed, sr.Analysis = b.problem, "", nil
		out.Diagnostics = b.rep
		c.Log.Errorf("%s", b.problem)
		return sr, out, nil
	}
	if ctx.Err() != nil {
		return sr, out, ctx.Err()
	}
	if jerr != nil {
		return sr, out, jerr
	}
	if sr.ChecksFailed == "" && (sr.Analysis == nil || sr.Analysis.Outcome == analysis.Pass) {
		c.Log.Infof("the canary's pods stayed Ready through the bake, without a restart")
	}
	return sr, out, nil
}

// schedule is a step's measurement interval and count: the analysis
// file's when it sets them, else canary-interval and canary-analysis-count.
// Their product is the step's bake time.
func (o Options) schedule() (time.Duration, int) {
	interval, count := o.Interval, o.Count
	if o.Analysis != nil && o.Analysis.Interval > 0 {
		interval = time.Duration(o.Analysis.Interval)
	}
	if o.Analysis != nil && o.Analysis.Count > 0 {
		count = o.Analysis.Count
	}
	return interval, max(count, 1)
}

// judge runs the canary's checks and its analysis (each when set).
func (c *Canary) judge(ctx context.Context, opts Options, can *appsv1.Deployment, pct int, stepStart time.Time, sr StepResult) (StepResult, error) {
	if opts.Checks != nil {
		if err := opts.Checks(ctx, can.Name); err != nil {
			if ctx.Err() != nil {
				return sr, ctx.Err()
			}
			sr.ChecksFailed = err.Error()
			return sr, nil
		}
	}
	if opts.Analysis != nil {
		ar, err := c.analyse(ctx, opts, pct, stepStart)
		sr.Analysis = ar
		if err != nil {
			return sr, err
		}
	}
	return sr, nil
}

// analyse measures every interval until the analysis concludes.
func (c *Canary) analyse(ctx context.Context, opts Options, pct int, from time.Time) (*analysis.Result, error) {
	o := opts.Deploy
	spec := opts.Analysis
	interval, count := opts.schedule()
	end := c.Log.Group(fmt.Sprintf("Canary step %d%%: analysis, %d measurements every %s", pct, count, interval))
	defer end()
	var all []analysis.Measurement
	for i := 1; i <= count; i++ {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(interval):
		}
		ms := spec.Measure(ctx, opts.Source, analysis.Target{Namespace: o.Namespace, Deployment: o.Deployment}, from, c.now(), i == count)
		for _, m := range ms {
			c.Log.Infof("measurement %d/%d %s: %s — %s", i, count, m.Metric, m.Outcome, m.Reason)
		}
		all = append(all, ms...)
		if r := spec.Conclude(all, i == count); r.Outcome != "" {
			c.Log.Infof("%s", r.Reason)
			return &r, nil
		}
	}
	r := spec.Conclude(all, true)
	return &r, nil
}

// ensure creates or resizes a canary workload (server-side apply, our field manager).
func (c *Canary) ensure(ctx context.Context, d *appsv1.Deployment) (*appsv1.Deployment, error) {
	body, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	force := true
	out, err := c.Client.AppsV1().Deployments(d.Namespace).Patch(ctx, d.Name, types.ApplyPatchType, body,
		metav1.PatchOptions{FieldManager: rollout.FieldManager, Force: &force})
	if err != nil {
		return nil, fmt.Errorf("apply deployment %s: %w", d.Name, err)
	}
	c.Log.Infof("deployment %s: %d replica(s) of %s", d.Name, ptrOr(d.Spec.Replicas, 1), imagesOf(d)[0])
	return out, nil
}

// record writes the canary's state on the stable Deployment.
func (c *Canary) record(ctx context.Context, o deploy.Options, st *State) error {
	return progressive.Write(ctx, c.Client, o.Namespace, o.Deployment, st)
}

// abort deletes the canary and baseline; stable was never touched.
func (c *Canary) abort(ctx context.Context, opts Options, res *Result, canaryStart time.Time, why string) (*Result, error) {
	o := opts.Deploy
	c.Log.Errorf("canary of %s aborted: %s", o.Image, why)
	cleaned, err := progressive.Settle(context.WithoutCancel(ctx), c.Client, o.Namespace, o.Deployment)
	res.TimeToAbort = c.now().Sub(canaryStart)
	res.AbortReason, res.Deploy.FailureReason = why, why
	res.Deploy.Status = deploy.StatusAborted
	res.Diagnostics = res.Deploy.Diagnostics
	if err != nil {
		return res, fmt.Errorf("canary aborted (%s) but its clean-up failed: %w", why, err)
	}
	c.Log.Infof("%s; stable was never touched: %s", cleaned, c.stableState(ctx, o))
	return res, fmt.Errorf("canary of %s aborted: %s", o.Image, why)
}

// stableState says what stable runs and how many of its pods are available
// (not its generation: the state annotation's removal bumps it, so a fresh
// read would look like a rollout not yet observed).
func (c *Canary) stableState(ctx context.Context, o deploy.Options) string {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	d, err := c.Client.AppsV1().Deployments(o.Namespace).Get(rctx, o.Deployment, metav1.GetOptions{})
	if err != nil {
		return "its state could not be read: " + err.Error()
	}
	return fmt.Sprintf("deployment %s runs %s, %d/%d pods available", d.Name, strings.Join(imagesOf(d), ", "), d.Status.AvailableReplicas, ptrOr(d.Spec.Replicas, 1))
}

// promote rolls stable to the canary's image with every verdict rule, then
// removes the canary (kept until then: it serves during the promotion). The
// objects a release canary created become the release's own.
func (c *Canary) promote(ctx context.Context, opts Options, res *Result, st *State, release func()) (*Result, error) {
	o := opts.Deploy
	if len(st.Created) > 0 {
		st.Created = nil
		if err := c.record(ctx, o, st); err != nil {
			return res, err
		}
	}
	release() // the promotion takes the lock itself
	var dres *deploy.Result
	var err error
	if opts.Release != nil {
		c.Log.Infof("promoting %s: applying it as a whole", o.Image)
		dres, err = opts.Release.Promote(ctx)
	} else {
		c.Log.Infof("promoting %s: rolling deploy of deployment %s", o.Image, o.Deployment)
		o.Progressive = true // its state is ours: removed below, once stable serves
		dres, err = c.Deployer.Run(ctx, o)
	}
	if dres != nil {
		dres.PreviousImages = res.Deploy.PreviousImages
		res.Deploy = dres
	}
	cleaned, cerr := progressive.Settle(context.WithoutCancel(ctx), c.Client, o.Namespace, o.Deployment)
	if cerr != nil {
		c.Log.Warnf("the canary could not be removed: %v", cerr)
	} else {
		c.Log.Infof("%s", cleaned)
	}
	return res, err
}

// CheckDecision says whether opts.Decision has a canary to decide on: one
// that waits for a decision and tried what opts would deploy (the same
// image, the same pod templates). It changes nothing; the error is a
// *DecisionError for bad input.
func (c *Canary) CheckDecision(ctx context.Context, opts Options) error {
	o := opts.Deploy
	stable, err := c.Client.AppsV1().Deployments(o.Namespace).Get(ctx, o.Deployment, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read deployment %s/%s: %w (nothing was changed)", o.Namespace, o.Deployment, err)
	}
	st, err := ReadState(stable)
	if err != nil {
		return err
	}
	return c.checkDecision(ctx, opts, stable, st)
}

func (c *Canary) checkDecision(ctx context.Context, opts Options, stable *appsv1.Deployment, st *State) error {
	o := opts.Deploy
	if st == nil || !st.Waiting || st.Strategy != progressive.StrategyCanary {
		return &DecisionError{Msg: fmt.Sprintf("no canary of deployment %s waits for a decision", o.Deployment)}
	}
	if st.Image != o.Image {
		return &DecisionError{Msg: fmt.Sprintf("the waiting canary runs %s, not %s", st.Image, o.Image)}
	}
	units, err := c.units(ctx, opts, stable)
	if err != nil {
		return err
	}
	if id := identity(units); st.Identity != "" && st.Identity != id {
		return &DecisionError{Msg: fmt.Sprintf("the waiting canary of %s tried other pod templates than these inputs give (tried %s, now %s): a decision applies only to what the canary tried; deploy without canary-decision to start a new canary", st.Image, st.Identity, id)}
	}
	return nil
}

// decide finishes a canary that waits for a person; the check is made
// again under the lock, on the Deployment as it is now.
func (c *Canary) decide(ctx context.Context, opts Options, res *Result, release func()) (*Result, error) {
	o := opts.Deploy
	stable, err := c.Client.AppsV1().Deployments(o.Namespace).Get(ctx, o.Deployment, metav1.GetOptions{})
	if err != nil {
		return res, fmt.Errorf("read deployment %s/%s: %w", o.Namespace, o.Deployment, err)
	}
	st, err := ReadState(stable)
	if err != nil {
		return res, err
	}
	if err := c.checkDecision(ctx, opts, stable, st); err != nil {
		return res, err
	}
	res.Deploy.PreviousImages = imagesOf(stable)
	if opts.Decision == "abort" {
		return c.abort(ctx, opts, res, c.now(), "aborted by canary-decision: abort ("+st.Reason+")")
	}
	c.Log.Infof("canary-decision: promote (the analysis was inconclusive: %s)", st.Reason)
	return c.promote(ctx, opts, res, st, release)
}

// DecisionError is a canary-decision with nothing (or something else) to decide.
type DecisionError struct{ Msg string }

// Error is the message.
func (e *DecisionError) Error() string { return e.Msg }

func imageOf(d *appsv1.Deployment, container string) string {
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == container {
			return c.Image
		}
	}
	return ""
}

func imagesOf(d *appsv1.Deployment) []string { return history.Images(&d.Spec.Template) }

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

func joinOr(list []string, none string) string {
	if len(list) == 0 {
		return none
	}
	return strings.Join(list, ", ")
}
