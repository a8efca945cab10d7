// Package deploy wires the deploy action's inputs to the deploy engine and
// its result to the outputs and the job summary.
package deploy

import (
	"context"
	"fmt"
	"time"

	"github.com/org/erlmcp-deploy/internal/app/connect"
	"github.com/org/erlmcp-deploy/internal/app/ghdeploys"
	"github.com/org/erlmcp-deploy/internal/app/setup"
	"github.com/org/erlmcp-deploy/internal/app/verdict"
	"github.com/org/erlmcp-deploy/internal/bluegreen"
	"github.com/org/erlmcp-deploy/internal/canary"
	engine "github.com/org/erlmcp-deploy/internal/deploy"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/imageref"
	"github.com/org/erlmcp-deploy/internal/notify"
	render "github.com/org/erlmcp-deploy/internal/report"
	"github.com/org/erlmcp-deploy/internal/rollout"
	"github.com/org/erlmcp-deploy/internal/summary"
	"github.com/org/erlmcp-deploy/internal/timeline"
)

// Run reads and validates every input, deploys (to every context of the
// contexts input, wave by wave, when it is set), and reports.
func Run(ctx context.Context, rt *ghaction.Runtime) error {
	setup.ApplyConfig(rt)
	if err := rt.ValidateAll(); err != nil {
		return err
	}
	if rt.String("contexts") != "" {
		return runWaves(ctx, rt)
	}
	return runOne(ctx, rt, timeline.New(rt), ghdeploys.New(ctx, rt).Target(rt.String("environment")))
}

// runOne deploys to one cluster; the engines log through log, which
// records the run's timeline; gh records it on GitHub.
func runOne(ctx context.Context, rt *ghaction.Runtime, log *timeline.Recorder, gh *ghdeploys.Target) error {
	timeout, health, verdictOpts := setup.Timeout(rt), setup.HealthCheck(rt), verdict.Options(rt)
	var resolveOpts []imageref.Option
	switch user, pass := rt.String("registry-username"), rt.String("registry-password"); {
	case user != "" && pass != "":
		resolveOpts = append(resolveOpts, imageref.WithKeychain(imageref.Basic(user, pass)))
	case user != "":
		rt.Invalid("registry-password", "is required with registry-username", "a password or token (for ghcr.io: a GITHUB_TOKEN with packages: read)")
	case pass != "":
		rt.Invalid("registry-username", "is required with registry-password", "the registry user name (for ghcr.io: the workflow actor, github.actor)")
	}
	if len(rt.List("manifests")) > 0 {
		var co *canary.Options
		switch rt.Enum("strategy") {
		case "canary":
			o := canaryOptions(rt, log)
			co = &o
		case "blue-green":
			rt.Invalid("strategy", "blue-green switches one Service between two Deployments; a manifest release may change several of each", "rolling or canary with manifests; blue-green with image")
			return rt.InputErr()
		}
		return runRelease(ctx, rt, log, releaseVerdict{timeout: timeout, health: health, rollout: verdictOpts, resolve: resolveOpts}, co, gh)
	}
	var co canary.Options
	var bo bluegreen.Options
	switch rt.Enum("strategy") {
	case "canary":
		co = canaryOptions(rt, log)
	case "blue-green":
		bo = blueGreenOptions(rt)
	}
	ref, err := imageref.Parse(rt.String("image"))
	switch {
	case rt.String("image") == "":
		rt.Invalid("image", "is required unless manifests is set", "repo:tag or repo@sha256:<64 hex digits>; or set manifests to deploy a release")
	case err != nil:
		rt.Invalid("image", err.Error(), "repo:tag or repo@sha256:<64 hex digits>")
	}
	for _, in := range []string{"images", "release"} {
		if rt.Has(in) && rt.String(in) != "" {
			rt.Invalid(in, "is only read with manifests", "set manifests too, or drop "+in)
		}
	}
	if err := rt.InputErr(); err != nil {
		return err
	}

	opts := engine.Options{
		Environment: rt.String("environment"), Namespace: rt.String("namespace"), Deployment: rt.String("deployment"),
		Container: rt.String("container"), Timeout: timeout, FailFast: rt.Bool("fail-fast"), HealthCheck: health,
		RollbackOnFailure: rt.Bool("rollback-on-failure"), DryRun: rt.Bool("dry-run"), Force: rt.Bool("force"),
		Holder: setup.Holder(rt), BackupDir: setup.TempDir(rt), Mask: rt.Mask, Rollout: verdictOpts, InitContainers: rt.Bool("update-init-containers"),
	}
	end := log.Group("Connect")
	kc, err := connect.Kube(rt)
	opts.Namespace = rt.String("namespace") // the context's when the run names none
	if err == nil && rt.Bool("resolve-digest") && ref.Digest == "" {
		var d string
		d, err = imageref.Resolve(ctx, ref, resolveOpts...)
		if err == nil {
			log.Infof("resolved %s to %s", ref, d)
			ref = ref.WithDigest(d)
		}
	}
	end()
	if err != nil {
		setFailed(rt, opts, err)
		return fmt.Errorf("%w (nothing was changed)", err)
	}
	opts.Image, opts.Digest = ref.String(), ref.Digest
	opts.ChangeCause = rt.String("change-cause")
	if opts.ChangeCause == "" {
		opts.ChangeCause = defaultChangeCause(rt, opts.Image)
	}
	slack := setup.Running(ctx, rt, slackEvent(rt, opts, &engine.Result{Image: opts.Image, Digest: opts.Digest}, notify.StatusRunning))
	gh.Describe("deploy "+opts.Image, map[string]any{"image": opts.Image, "namespace": opts.Namespace, "deployment": opts.Deployment})
	if !opts.DryRun && co.Decision == "" {
		gh.Start(ctx) // a canary-decision with nothing to decide is bad input: nothing on GitHub then
	}
	res, err := pickStrategy(rt, log, kc, co, bo).run(ctx, opts)
	if _, bad := ghaction.AsInputErrors(err); bad {
		return err
	}
	if co.Decision != "" && !opts.DryRun {
		gh.Start(ctx)
	}
	if err != nil && res.Status != engine.StatusPaused {
		log.Fail(err.Error()) // a pre-flight error, say, that no error line told
	}
	report(rt, opts, res, log.Own())
	gh.Finish(context.WithoutCancel(ctx), string(res.Status), res.FailureReason)
	if slack.Enabled() {
		rt.SetOutput("slack-ts", slack.NotifyBestEffort(ctx, slackEvent(rt, opts, res, slackStatus(ctx, res))))
	}
	return err
}

func slackEvent(rt *ghaction.Runtime, opts engine.Options, res *engine.Result, status string) notify.Event {
	ev := setup.Event(rt, "deploy", opts.Environment, status)
	ev.Image, ev.Digest, ev.Reason = res.Image, res.Digest, res.FailureReason
	ev.Cause, ev.Evidence = setup.CauseText(render.DeployCause(res))
	ev.Revision, ev.PreviousRevision = revision(res.Revision), revision(res.PreviousRevision)
	ev.Details = []notify.Field{{Name: "Deployment", Value: opts.Namespace + "/" + opts.Deployment}}
	if res.Duration > 0 {
		ev.Details = append(ev.Details, notify.Field{Name: "Duration", Value: res.Duration.Round(100 * time.Millisecond).String()})
	}
	return ev
}

func defaultChangeCause(rt *ghaction.Runtime, image string) string {
	cause := fmt.Sprintf("deploy %s by %s", image, setup.Actor(rt))
	if u := setup.RunURL(rt); u != "" {
		cause += " in " + u
	} else {
		cause += " with the erlmcp-deploy CLI"
	}
	return cause
}

func setFailed(rt *ghaction.Runtime, opts engine.Options, err error) {
	rt.SetOutput("status", string(engine.StatusFailed))
	rt.SetOutput("rolled-back", "false")
	rt.SetOutput("failure-reason", err.Error())
	rt.SetOutput("failure-cause", render.FailureCause(true, rollout.Verdict{}, nil, err.Error()).Class)
	rt.Summary().Heading(2, fmt.Sprintf("❌ Deploy to %s failed before any change", opts.Environment)).
		Para(summary.Cell(err.Error()))
}

// report writes the outputs and the job summary.
func report(rt *ghaction.Runtime, opts engine.Options, res *engine.Result, tl timeline.Timeline) {
	out := render.Deploy(opts, res, tl)
	for _, kv := range out.Outputs {
		rt.SetOutput(kv[0], kv[1])
	}
	rt.Summary().Para(out.Summary.String())
}

// slackStatus is the Slack status of a finished deploy.
func slackStatus(ctx context.Context, res *engine.Result) string {
	switch {
	case res.DryRun:
		return notify.StatusUnchanged
	case ctx.Err() != nil:
		return notify.StatusCancelled
	}
	return string(res.Status)
}

func revision(n int64) string { return render.Revision(n) }
