package deploy

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/app/fleet"
	"github.com/org/erlmcp-deploy/internal/app/ghdeploys"
	rollbackapp "github.com/org/erlmcp-deploy/internal/app/rollback"
	"github.com/org/erlmcp-deploy/internal/app/setup"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/notify"
	render "github.com/org/erlmcp-deploy/internal/report"
	"github.com/org/erlmcp-deploy/internal/rollout"
	"github.com/org/erlmcp-deploy/internal/timeline"
	"github.com/org/erlmcp-deploy/internal/waves"
)

// runWaves deploys to every context of the contexts input, wave by wave
// (package waves), each context running this action's whole single-cluster
// deploy in a Fork of rt; one summary, one clusters output, one Slack
// message updated per wave, one GitHub deployment per context.
func runWaves(ctx context.Context, rt *ghaction.Runtime) error {
	plan, namespaces := fleet.Targets(rt)
	scope, err := waves.ParseScope(rt.Enum("rollback-scope"))
	if err != nil {
		rt.Invalid("rollback-scope", err.Error(), "failed, wave or all")
	}
	if err := rt.InputErr(); err != nil {
		return err
	}
	env, image := rt.String("environment"), rt.String("image")
	if image == "" {
		image = "release " + rt.String("release")
	}
	var lines []string
	for i, w := range plan {
		lines = append(lines, fmt.Sprintf("wave %d: %s", i+1, strings.Join(w, ", ")))
	}
	rt.Infof("deploying %s to %s in %d wave(s) (rollback-scope: %s): %s", image, env, len(plan), scope, strings.Join(lines, "; "))
	start := time.Now()
	gh := ghdeploys.New(ctx, rt)
	ev := setup.Event(rt, "deploy", env, notify.StatusRunning)
	ev.Image = image
	ev.Details = []notify.Field{{Name: "Contexts", Value: strings.Join(lines, "\n")}}
	slack := setup.Running(ctx, rt, ev)
	log := timeline.New(rt)

	var reports fleet.Reports
	r := waves.Runner{
		Deploy: func(ctx context.Context, t waves.Target) waves.Outcome {
			child := fleet.Fork(rt, actionspec.Deploy(), plan, t, namespaces)
			err := runOne(ctx, child, log.Lane(fleet.Lane(t), child), gh.Target(env+"/"+t.Context))
			o := outcome(child, err)
			reports.Add(t.Context, child, err)
			rt.Infof("[%s] %s", t.Context, describe(o))
			return o
		},
		Rollback: func(ctx context.Context, t waves.Target, previous string) (string, error) {
			child := rt.Fork(actionspec.Rollback(), "["+t.Context+"] rollback: ", true, rollbackOverrides(t.Context, namespaces[t.Context], previous, env))
			err := rollbackapp.RunRecorded(ctx, child, log.Lane(fleet.Lane(t), child))
			if err == nil && child.Outputs()["status"] != "succeeded" {
				err = fmt.Errorf("rollback ended %s", child.Outputs()["status"])
			}
			if err == nil {
				gh.Restored(context.WithoutCancel(ctx), env+"/"+t.Context, child.Outputs()["image"], "rollback-scope: back to revision "+previous)
			}
			return child.Outputs()["revision"], err
		},
		OnWave: func(wave int, so []waves.Outcome) {
			if slack.Enabled() && rt.String("slack-token") != "" {
				ev := ev
				ev.Details = append(ev.Details, notify.Field{Name: fmt.Sprintf("After wave %d", wave), Value: progress(so)})
				slack.NotifyBestEffort(ctx, ev)
			}
		},
	}
	res := r.Run(ctx, plan, scope)
	if ie := reports.InputErrors(); len(ie) > 0 && !changedAny(res) {
		return ie
	}
	out := render.Clusters{Stage: "Deploy", Environment: env, Image: image, Scope: scope, Result: res, Namespaces: namespaces,
		Details: reports.Details(), Duration: time.Since(start), Timeline: log.Timeline()}
	fleet.Publish(rt, out.Render())
	status := out.Status()
	if slack.Enabled() {
		ev.Status = status
		if ctx.Err() != nil {
			ev.Status = notify.StatusCancelled
		}
		ev.Details = []notify.Field{{Name: "Contexts", Value: progress(res.Outcomes)}}
		rt.SetOutput("slack-ts", slack.NotifyBestEffort(ctx, ev))
	}
	if status != waves.StatusSucceeded {
		return fmt.Errorf("deploy to %s: %s", env, progress(res.Outcomes))
	}
	return nil
}

// rollbackOverrides are the rollback action's inputs for a rollback-scope
// rollback of one context to the revision it served before this run.
func rollbackOverrides(context, namespace, previous, env string) map[string]string {
	ov := fleet.Overrides(context, namespace)
	ov["to"], ov["confirm"], ov["list"], ov["dry-run"] = previous, env, "false", "false"
	return ov
}

// outcome reads a context's outcome from its run's outputs.
func outcome(child *ghaction.Runtime, err error) waves.Outcome {
	out := child.Outputs()
	o := waves.Outcome{Status: out["status"], Revision: out["revision"], PreviousRevision: out["previous-revision"],
		Reason: out["failure-reason"], Cause: out["failure-cause"], RolledBack: out["rolled-back"] == "true"}
	if s, perr := strconv.ParseFloat(out["duration-seconds"], 64); perr == nil {
		o.Duration = time.Duration(s * float64(time.Second))
	}
	if err != nil && o.Status == "" || err != nil && o.Status == waves.StatusSucceeded {
		o.Status = "failed"
	}
	if err != nil && o.Reason == "" {
		o.Reason = err.Error()
	}
	if o.Cause == "" && o.Status != waves.StatusSucceeded && o.Status != "unchanged" {
		o.Cause = render.FailureCause(true, rollout.Verdict{}, nil, o.Reason).Class
	}
	return o
}

func describe(o waves.Outcome) string {
	s := o.Status
	if o.Revision != "" {
		s += fmt.Sprintf(" (revision %s, was %s)", o.Revision, o.PreviousRevision)
	}
	if o.Duration > 0 {
		s += " in " + o.Duration.Round(100*time.Millisecond).String()
	}
	if o.Reason != "" {
		s += ": " + o.Reason
	}
	return s
}

// progress is one line per context, for Slack and the error.
func progress(so []waves.Outcome) string {
	var b []string
	for _, o := range so {
		line := fmt.Sprintf("%s: %s", o.Context, o.Status)
		if o.ScopeRollback != "" {
			line += " (rollback-scope: " + o.ScopeRollback + ")"
		}
		b = append(b, line)
	}
	return strings.Join(b, "; ")
}

// changedAny reports whether any context was changed (or started).
func changedAny(res waves.Result) bool {
	for _, o := range res.Outcomes {
		if o.Revision != "" && o.Revision != o.PreviousRevision || o.RolledBack {
			return true
		}
	}
	return false
}
