// Package deploy wires the deploy action's inputs to the deploy engine and
// its result to the outputs and the job summary.
package deploy

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/org/erlmcp-deploy/internal/app/connect"
	"github.com/org/erlmcp-deploy/internal/app/setup"
	engine "github.com/org/erlmcp-deploy/internal/deploy"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/imageref"
	"github.com/org/erlmcp-deploy/internal/notify"
	"github.com/org/erlmcp-deploy/internal/summary"
)

// Run reads and validates every input, deploys, and reports.
func Run(ctx context.Context, rt *ghaction.Runtime) error {
	setup.ApplyConfig(rt)
	if err := rt.ValidateAll(); err != nil {
		return err
	}
	ref, err := imageref.Parse(rt.String("image"))
	if err != nil {
		rt.Invalid("image", err.Error(), "repo:tag or repo@sha256:<64 hex digits>")
	}
	timeout, health := setup.Timeout(rt), setup.HealthCheck(rt)
	if err := rt.InputErr(); err != nil {
		return err
	}

	opts := engine.Options{
		Environment: rt.String("environment"), Namespace: rt.String("namespace"), Deployment: rt.String("deployment"),
		Container: rt.String("container"), Timeout: timeout, FailFast: rt.Bool("fail-fast"), HealthCheck: health,
		RollbackOnFailure: rt.Bool("rollback-on-failure"), DryRun: rt.Bool("dry-run"), Force: rt.Bool("force"),
		Holder: setup.Holder(rt), BackupDir: setup.TempDir(rt), Mask: rt.Mask,
	}
	end := rt.Group("Connect")
	kc, err := connect.Kube(rt)
	if err == nil && rt.Bool("resolve-digest") && ref.Digest == "" {
		var d string
		d, err = imageref.Resolve(ctx, ref)
		if err == nil {
			rt.Infof("resolved %s to %s", ref, d)
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
	dp := &engine.Deployer{Client: kc.Clientset, Log: rt}
	res, err := dp.Run(ctx, opts)
	report(rt, opts, res)
	if slack.Enabled() {
		status := string(res.Status)
		switch {
		case res.DryRun:
			status = notify.StatusUnchanged
		case ctx.Err() != nil:
			status = notify.StatusCancelled
		}
		rt.SetOutput("slack-ts", slack.NotifyBestEffort(ctx, slackEvent(rt, opts, res, status)))
	}
	return err
}

func slackEvent(rt *ghaction.Runtime, opts engine.Options, res *engine.Result, status string) notify.Event {
	ev := setup.Event(rt, "deploy", opts.Environment, status)
	ev.Image, ev.Digest, ev.Reason = res.Image, res.Digest, res.FailureReason
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
	rt.Summary().Heading(2, fmt.Sprintf("❌ Deploy to %s failed before any change", opts.Environment)).
		Para(summary.Cell(err.Error()))
}

// report writes the outputs and the job summary.
func report(rt *ghaction.Runtime, opts engine.Options, res *engine.Result) {
	rt.SetOutput("status", string(res.Status))
	rt.SetOutput("revision", revision(res.Revision))
	rt.SetOutput("previous-revision", revision(res.PreviousRevision))
	rt.SetOutput("image", res.Image)
	rt.SetOutput("digest", res.Digest)
	rt.SetOutput("rolled-back", strconv.FormatBool(res.RolledBack))
	rt.SetOutput("failure-reason", res.FailureReason)
	rt.SetOutput("duration-seconds", strconv.FormatFloat(res.Duration.Seconds(), 'f', 1, 64))
	rt.SetOutput("backup", res.BackupPath)

	s := rt.Summary()
	title := map[engine.Status]string{
		engine.StatusSucceeded:  "✅ Deployed to " + opts.Environment,
		engine.StatusRolledBack: "↩️ Deploy to " + opts.Environment + " failed and was rolled back",
		engine.StatusFailed:     "❌ Deploy to " + opts.Environment + " failed",
	}[res.Status]
	if res.DryRun {
		title = "🧪 Dry run of a deploy to " + opts.Environment + " (nothing changed)"
	}
	s.Heading(2, title)
	image := summary.InlineCode(res.Image)
	if res.Digest != "" && !strings.Contains(res.Image, res.Digest) {
		image += " → " + summary.InlineCode(res.Digest)
	}
	rows := [][2]string{
		{"Deployment", summary.InlineCode(opts.Namespace + "/" + opts.Deployment)},
		{"Image", image},
		{"Previous image", summary.InlineCode(strings.Join(res.PreviousImages, ", "))},
		{"Revision", fmt.Sprintf("%s → %s", revision(res.PreviousRevision), revision(res.Revision))},
		{"Duration", res.Duration.Round(100 * time.Millisecond).String()},
		{"Verdict", string(res.Status)},
	}
	if res.FailureReason != "" {
		rows = append(rows, [2]string{"Failure", res.FailureReason})
	}
	if res.RolledBack {
		rows = append(rows, [2]string{"Rollback", "revision " + revision(res.PreviousRevision) + "'s template is serving again (" + res.RollbackDuration.Round(100*time.Millisecond).String() + ")"})
	}
	if res.RollbackError != "" {
		rows = append(rows, [2]string{"Rollback failed", res.RollbackError})
	}
	if res.BackupPath != "" {
		rows = append(rows, [2]string{"Backup", summary.InlineCode(res.BackupPath)})
	}
	s.KeyValues(rows)
	if res.Diagnostics != nil {
		s.Heading(3, "Diagnostics")
		res.Diagnostics.Markdown(s)
	}
}

func revision(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}
