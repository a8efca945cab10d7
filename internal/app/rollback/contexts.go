package rollback

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/app/fleet"
	"github.com/org/erlmcp-deploy/internal/app/ghdeploys"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	render "github.com/org/erlmcp-deploy/internal/report"
	"github.com/org/erlmcp-deploy/internal/rollout"
	"github.com/org/erlmcp-deploy/internal/timeline"
	"github.com/org/erlmcp-deploy/internal/waves"
)

// runContexts rolls back every context of the contexts input, wave by
// wave, each with this action's whole single-cluster run in a Fork of rt,
// logging in a lane of log. A context that fails does not stop the others:
// each is worth putting back.
func runContexts(ctx context.Context, rt *ghaction.Runtime, log *timeline.Recorder) error {
	plan, namespaces := fleet.Targets(rt)
	if err := rt.InputErr(); err != nil {
		return err
	}
	env := rt.String("environment")
	start := time.Now()
	gh := ghdeploys.New(ctx, rt)
	var reports fleet.Reports
	r := waves.Runner{KeepGoing: true, Deploy: func(ctx context.Context, t waves.Target) waves.Outcome {
		child := fleet.Fork(rt, actionspec.Rollback(), plan, t, namespaces)
		err := runOne(ctx, child, log.Lane(fleet.Lane(t), child))
		out := child.Outputs()
		o := waves.Outcome{Status: out["status"], Revision: out["revision"], PreviousRevision: out["from-revision"], Cause: out["failure-cause"]}
		switch {
		case err != nil && (o.Status == "" || o.Status == waves.StatusSucceeded):
			o.Status, o.Reason = "failed", err.Error()
		case err != nil:
			o.Reason = err.Error()
		case o.Status == waves.StatusSucceeded:
			gh.Restored(context.WithoutCancel(ctx), env+"/"+t.Context, out["image"], "rollback to revision "+o.Revision)
		}
		if o.Status == "unchanged" || o.Status == "listed" {
			o.Status = waves.StatusSucceeded // nothing to put back is not a failure
		}
		if o.Cause == "" && o.Status != waves.StatusSucceeded {
			o.Cause = render.FailureCause(true, rollout.Verdict{}, nil, o.Reason).Class
		}
		reports.Add(t.Context, child, err)
		rt.Infof("[%s] rollback %s", t.Context, o.Status)
		return o
	}}
	res := r.Run(ctx, plan, "")
	if n := reports.Refused(); n > 0 && n == countContexts(plan) {
		return reports.InputErrors()
	}
	c := render.Clusters{Stage: "Rollback", Environment: env, Result: res, Namespaces: namespaces, Details: reports.Details(), Duration: time.Since(start),
		Timeline: log.Own()}
	fleet.Publish(rt, c.Render())
	if res.Failed() {
		var bad []string
		for _, o := range res.Outcomes {
			if o.Status != waves.StatusSucceeded {
				bad = append(bad, o.Context+": "+o.Status)
			}
		}
		return fmt.Errorf("rollback of %s: %s", env, strings.Join(bad, "; "))
	}
	return nil
}

func countContexts(plan [][]string) int {
	n := 0
	for _, w := range plan {
		n += len(w)
	}
	return n
}
