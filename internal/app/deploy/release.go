package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/org/erlmcp-deploy/internal/app/connect"
	"github.com/org/erlmcp-deploy/internal/app/ghdeploys"
	"github.com/org/erlmcp-deploy/internal/app/setup"
	"github.com/org/erlmcp-deploy/internal/apply"
	"github.com/org/erlmcp-deploy/internal/canary"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/imageref"
	"github.com/org/erlmcp-deploy/internal/inventory"
	"github.com/org/erlmcp-deploy/internal/manifest"
	"github.com/org/erlmcp-deploy/internal/notify"
	render "github.com/org/erlmcp-deploy/internal/report"
	"github.com/org/erlmcp-deploy/internal/rollout"
	"github.com/org/erlmcp-deploy/internal/timeline"
)

// runRelease deploys the `manifests` release: the same verdict, rollback,
// outputs, summary and Slack message as an image deploy, for a whole set.
func runRelease(ctx context.Context, rt *ghaction.Runtime, log *timeline.Recorder, verdictOpts releaseVerdict, co *canary.Options, gh *ghdeploys.Target) error {
	images, err := manifest.ParseImages(strings.Join(rt.List("images"), "\n"))
	if err != nil {
		rt.Invalid("images", err.Error(), "`repository=reference`, one per line, e.g. ghcr.io/acme/erlmcp-dashboard=ghcr.io/acme/erlmcp-dashboard:2.1.0")
	}
	var required []string
	var ref imageref.Ref
	if s := rt.String("image"); s != "" {
		if ref, err = imageref.Parse(s); err != nil {
			rt.Invalid("image", err.Error(), "repo:tag or repo@sha256:<64 hex digits>")
		} else if images != nil {
			if _, dup := images[ref.Name()]; dup {
				rt.Invalid("images", "names repository "+ref.Name()+" that the image input sets too", "one image per repository")
			}
			required = append(required, ref.Name())
		}
	}
	name := rt.String("release")
	if name == "" {
		name = rt.String("deployment")
	}
	if err := inventory.ValidateName(name); err != nil {
		rt.Invalid("release", err.Error(), "a lowercase DNS name of at most 53 characters, e.g. erlmcp")
	}
	if err := rt.InputErr(); err != nil {
		return err
	}
	opts := apply.Options{
		Environment: rt.String("environment"), Namespace: rt.String("namespace"), Release: name, Manifests: rt.List("manifests"),
		Prune: rt.Bool("prune"), ForceConflicts: rt.Bool("force-conflicts"), DryRun: rt.Bool("dry-run"), Force: rt.Bool("force"),
		Timeout: verdictOpts.timeout, FailFast: rt.Bool("fail-fast"), RollbackOnFailure: rt.Bool("rollback-on-failure"),
		Holder: setup.Holder(rt), HealthCheck: verdictOpts.health, Rollout: verdictOpts.rollout, Mask: rt.Mask, Required: required,
	}
	end := log.Group("Connect")
	kc, err := connect.Kube(rt)
	opts.Namespace = rt.String("namespace") // the context's when the run names none
	if err == nil && ref.Name() != "" && rt.Bool("resolve-digest") && ref.Digest == "" {
		var d string
		if d, err = imageref.Resolve(ctx, ref, verdictOpts.resolve...); err == nil {
			log.Infof("resolved %s to %s", ref, d)
			ref = ref.WithDigest(d)
		}
	}
	var eng *apply.Engine
	if err == nil {
		eng, err = apply.New(kc.Config, kc.Clientset, log)
	}
	end()
	if err != nil {
		setReleaseFailed(rt, opts, err)
		return fmt.Errorf("%w (nothing was changed)", err)
	}
	if ref.Name() != "" {
		if images == nil {
			images = manifest.Images{}
		}
		images[ref.Name()] = ref.String()
	}
	opts.Images = images
	opts.ChangeCause = rt.String("change-cause")
	if opts.ChangeCause == "" {
		opts.ChangeCause = defaultChangeCause(rt, "release "+name)
	}
	slack := setup.Running(ctx, rt, releaseEvent(rt, opts, &apply.Result{Release: name}, notify.StatusRunning))
	opts.OnChange = func(ctx context.Context, images []string) {
		// The release's images as the rollback action reports them, so a rollback finds this deployment.
		gh.Describe("deploy release "+name, map[string]any{"release": name, "image": strings.Join(images, ","), "namespace": opts.Namespace})
		gh.Start(ctx)
	}
	var res *apply.Result
	if co != nil {
		res, err = releaseCanary(ctx, rt, log, eng, kc, opts, *co)
	} else {
		res, err = eng.Run(ctx, opts)
	}
	gh.Finish(context.WithoutCancel(ctx), string(res.Status), res.FailureReason)
	if _, bad := ghaction.AsInputErrors(err); bad {
		return err
	}
	var ie *apply.InputError
	if errors.As(err, &ie) {
		setReleaseFailed(rt, opts, err)
		return setup.InputErrors(ie)
	}
	if err != nil && res.Status != apply.StatusPaused {
		log.Fail(err.Error()) // a pre-flight error, say, that no error line told
	}
	out := render.Release(opts, res, log.Own())
	for _, kv := range out.Outputs {
		rt.SetOutput(kv[0], kv[1])
	}
	rt.Summary().Para(out.Summary.String())
	if slack.Enabled() {
		status := string(res.Status)
		switch {
		case res.DryRun, res.Unchanged && res.Status == apply.StatusSucceeded:
			status = notify.StatusUnchanged
		case ctx.Err() != nil:
			status = notify.StatusCancelled
		}
		rt.SetOutput("slack-ts", slack.NotifyBestEffort(ctx, releaseEvent(rt, opts, res, status)))
	}
	return err
}

// releaseVerdict is what the release path shares with the image path's input reading.
type releaseVerdict struct {
	timeout time.Duration
	health  func(context.Context) error
	rollout rollout.Options
	resolve []imageref.Option
}

func setReleaseFailed(rt *ghaction.Runtime, opts apply.Options, err error) {
	rt.SetOutput("status", string(apply.StatusFailed))
	rt.SetOutput("rolled-back", "false")
	rt.SetOutput("release", opts.Release)
	rt.SetOutput("failure-reason", err.Error())
	rt.SetOutput("failure-cause", render.FailureCause(true, rollout.Verdict{}, nil, err.Error()).Class)
	rt.Summary().Heading(2, fmt.Sprintf("❌ Release %s failed in %s before any change", opts.Release, opts.Environment)).
		Para(strings.ReplaceAll(err.Error(), "\n", "<br>"))
}

func releaseEvent(rt *ghaction.Runtime, opts apply.Options, res *apply.Result, status string) notify.Event {
	ev := setup.Event(rt, "deploy", opts.Environment, status)
	ev.Image, ev.Reason = strings.Join(res.Images, ", "), res.FailureReason
	ev.Cause, ev.Evidence = setup.CauseText(render.ReleaseCause(res))
	ev.Revision, ev.PreviousRevision = render.Revision(int64(res.Revision)), render.Revision(int64(res.PreviousRevision))
	ev.Details = []notify.Field{{Name: "Release", Value: opts.Namespace + "/" + opts.Release}}
	if res.Failed != "" {
		ev.Details = append(ev.Details, notify.Field{Name: "Failed object", Value: res.Failed})
	}
	if res.Duration > 0 {
		ev.Details = append(ev.Details, notify.Field{Name: "Duration", Value: res.Duration.Round(100 * time.Millisecond).String()})
	}
	return ev
}
