// Package rollback wires the rollback action's inputs to the rollback
// engine and its result to the outputs and the job summary.
package rollback

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/org/erlmcp-deploy/internal/app/connect"
	"github.com/org/erlmcp-deploy/internal/app/ghdeploys"
	"github.com/org/erlmcp-deploy/internal/app/setup"
	"github.com/org/erlmcp-deploy/internal/app/verdict"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/history"
	"github.com/org/erlmcp-deploy/internal/notify"
	render "github.com/org/erlmcp-deploy/internal/report"
	engine "github.com/org/erlmcp-deploy/internal/rollback"
	"github.com/org/erlmcp-deploy/internal/timeline"
)

// protected are environment names that need `confirm` to roll back.
var protected = map[string]bool{"production": true, "prod": true}

// Run reads and validates every input, then lists or rolls back: a
// Deployment (image mode), or a manifest release as a whole when the
// `release` input is given or the namespace holds the release history of the
// `deployment` name (release mode).
func Run(ctx context.Context, rt *ghaction.Runtime) error {
	return RunRecorded(ctx, rt, timeline.New(rt))
}

// RunRecorded is Run with the engines logging through log, which records
// the run's timeline (a deploy's rollback-scope rollback of a context logs
// into that context's lane of the deploy's).
func RunRecorded(ctx context.Context, rt *ghaction.Runtime, log *timeline.Recorder) error {
	setup.ApplyConfig(rt)
	if err := rt.ValidateAll(); err != nil {
		return err
	}
	if rt.String("contexts") != "" {
		return runContexts(ctx, rt, log)
	}
	err := runOne(ctx, rt, log)
	if out := rt.Outputs(); out["status"] == "succeeded" {
		ghdeploys.New(ctx, rt).Restored(context.WithoutCancel(ctx), rt.String("environment"), out["image"], "rollback to revision "+out["revision"])
	}
	return err
}

// runOne rolls back one cluster, the engines logging through log.
func runOne(ctx context.Context, rt *ghaction.Runtime, log *timeline.Recorder) error {
	env, list, confirm := rt.String("environment"), rt.Bool("list"), rt.String("confirm")
	if !list {
		switch {
		case protected[strings.ToLower(env)] && confirm == "":
			rt.Invalid("confirm", fmt.Sprintf("is required to roll back %s", env), env)
		case confirm != "" && confirm != env:
			rt.Invalid("confirm", fmt.Sprintf("%q does not match the environment %q", confirm, env), env)
		}
	}
	timeout, health, verdictOpts := setup.Timeout(rt), setup.HealthCheck(rt), verdict.Options(rt)
	release := rt.String("release")
	explicit := release != ""
	if explicit {
		checkRelease(rt, release, list)
	}
	if err := rt.InputErr(); err != nil {
		return err
	}
	end := log.Group("Connect")
	kc, err := connect.Kube(rt)
	ns, name := rt.String("namespace"), rt.String("deployment")
	if err == nil && !explicit {
		release = detectRelease(ctx, rt, kc.Clientset, ns, name)
	}
	end()
	if err != nil {
		rt.SetOutput("status", string(engine.StatusFailed))
		return fmt.Errorf("%w (nothing was changed)", err)
	}
	if !list && !rt.Bool("dry-run") {
		done, err := settleProgressive(ctx, rt, kc.Clientset, ns, name)
		switch {
		case err != nil:
			rt.SetOutput("status", string(engine.StatusFailed))
			return err
		case done:
			return nil
		case rt.String("to") == "cleanup":
			rt.SetOutput("status", "unchanged")
			rt.Infof("nothing else to do: to: cleanup only removes what an unfinished canary or blue-green left")
			return nil
		}
	}
	if release != "" {
		if !explicit {
			checkRelease(rt, release, list)
		}
		if err := rt.InputErr(); err != nil {
			return err
		}
		return runRelease(ctx, rt, log, kc, releaseRun{env: env, ns: ns, name: release, list: list, timeout: timeout, health: health, rollout: verdictOpts})
	}
	r := &engine.Roller{Client: kc.Clientset, Log: log}
	if list {
		_, revs, err := r.List(ctx, ns, name)
		if err != nil {
			rt.SetOutput("status", string(engine.StatusFailed))
			return err
		}
		rt.Infof("revision history of deployment %s/%s (newest first):\n%s", ns, name, Table(revs))
		res := &engine.Result{Status: engine.StatusListed, History: revs}
		for _, rv := range revs {
			if rv.Current {
				res.Revision, res.FromRevision, res.Images = rv.Number, rv.Number, rv.Images
			}
		}
		report(rt, env, ns, name, res, timeline.Timeline{}) // a listing has no timeline worth a chart
		return nil
	}
	opts := engine.Options{Environment: env, Namespace: ns, Deployment: name, Container: rt.String("container"), To: rt.String("to"),
		Timeout: timeout, DryRun: rt.Bool("dry-run"), Holder: setup.Holder(rt), HealthCheck: health, Mask: rt.Mask, Rollout: verdictOpts}
	ev := setup.Event(rt, "rollback", env, notify.StatusRunning)
	ev.Details = []notify.Field{{Name: "Deployment", Value: ns + "/" + name}, {Name: "Target", Value: opts.To}}
	slack := setup.Running(ctx, rt, ev)
	res, err := r.Run(ctx, opts)
	if err != nil {
		log.Fail(err.Error()) // a plan that failed, say, that no error line told
	}
	report(rt, env, ns, name, res, log.Own())
	if slack.Enabled() {
		switch {
		case res.DryRun || res.Status == engine.StatusUnchanged:
			ev.Status = notify.StatusUnchanged
		case res.Status == engine.StatusSucceeded:
			ev.Status = notify.StatusRolledBack
		default:
			ev.Status = notify.StatusFailed
		}
		ev.Revision, ev.PreviousRevision, ev.Image = num(res.Revision), num(res.FromRevision), strings.Join(res.Images, ", ")
		if err != nil {
			ev.Reason = err.Error()
		} else {
			ev.Reason = res.Message
		}
		ev.Cause, ev.Evidence = setup.CauseText(render.RollbackCause(res))
		rt.SetOutput("slack-ts", slack.NotifyBestEffort(ctx, ev))
	}
	return err
}

// Table renders a history as an aligned text table (the log and the CLI).
func Table(revs []history.Revision) string {
	return table(engine.Header, engine.Rows(revs))
}

func table(header []string, rows [][]string) string {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, row := range rows {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	return strings.TrimRight(b.String(), "\n")
}

func report(rt *ghaction.Runtime, env, ns, name string, res *engine.Result, tl timeline.Timeline) {
	out := render.Rollback(env, ns, name, res, tl)
	for _, kv := range out.Outputs {
		rt.SetOutput(kv[0], kv[1])
	}
	rt.Summary().Para(out.Summary.String())
}

func num(n int64) string { return render.Revision(n) }
