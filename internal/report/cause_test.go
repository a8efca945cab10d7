package report_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	engine "github.com/org/erlmcp-deploy/internal/deploy"
	"github.com/org/erlmcp-deploy/internal/diagnose"
	"github.com/org/erlmcp-deploy/internal/report"
	"github.com/org/erlmcp-deploy/internal/rollout"
)

// TestFailureCause: every failed run gets a class — from the rollout
// evidence first, then an engine's own (a canary's analysis), then the
// reason — and a run that did not fail gets none.
func TestFailureCause(t *testing.T) {
	tests := []struct {
		name string
		res  engine.Result
		want string
	}{
		{"succeeded", engine.Result{Status: engine.StatusSucceeded}, ""},
		{"dry run", engine.Result{Status: engine.StatusFailed, DryRun: true, FailureReason: "x"}, ""},
		{"paused canary", engine.Result{Status: engine.StatusPaused, CauseClass: diagnose.Analysis, FailureReason: "inconclusive"}, ""},
		{"canary analysis", engine.Result{Status: engine.StatusAborted, CauseClass: diagnose.Analysis,
			FailureReason: "step 2 (50%): error-rate: canary 0.31 vs baseline 0.01 (p=0.0001)"}, diagnose.Analysis},
		{"canary checks", engine.Result{Status: engine.StatusAborted, CauseClass: diagnose.CanaryChecks, FailureReason: "step 1 (10%): canary checks failed: GET /health: 503"}, diagnose.CanaryChecks},
		{"evidence wins over the engine's class", engine.Result{Status: engine.StatusAborted, CauseClass: diagnose.Analysis,
			Diagnostics: &diagnose.Report{Cause: diagnose.Cause{Class: "missing-env"}}}, "missing-env"},
		{"a verdict without diagnostics", engine.Result{Status: engine.StatusFailed, Verdict: rollout.Verdict{Phase: rollout.Failed, Reason: "ErrImagePull",
			Problems: []rollout.Problem{{Pod: "p", Container: "c", Reason: "ErrImagePull", Message: `failed to pull and unpack image "x/y:1": not found`}}}}, diagnose.ImageNotFound},
		{"cancelled", engine.Result{Status: engine.StatusFailed, FailureReason: "cancelled while waiting: 1/3 updated"}, report.CauseCancelled},
		{"lock held", engine.Result{Status: engine.StatusFailed, FailureReason: "deploy lock erlmcp-deploy.erlmcp is held by run 41 (nothing was changed)"}, report.CauseLocked},
		{"forbidden", engine.Result{Status: engine.StatusFailed, FailureReason: `deployments.apps "erlmcp" is forbidden: User "x" cannot patch (nothing was changed)`}, report.CauseForbidden},
		{"timeout without evidence", engine.Result{Status: engine.StatusFailed, Verdict: rollout.Verdict{Phase: rollout.Failed, Reason: rollout.ReasonTimeout},
			FailureReason: "Timeout: timed out: 1 old replicas are pending termination"}, diagnose.Timeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, report.DeployCause(&tt.res).Class)
		})
	}
}
