package verify_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/org/erlmcp-deploy/internal/rollout"
	"github.com/org/erlmcp-deploy/internal/verify"
)

func member(name string, phase rollout.Phase, reason, msg string) verify.MemberOutcome {
	return verify.MemberOutcome{Name: name, Verdict: rollout.Verdict{Phase: phase, Reason: reason, Message: msg}}
}

func TestPureConcludeSet(t *testing.T) {
	ok := func(name string) verify.MemberOutcome { return member(name, rollout.Succeeded, "", "ready") }
	stopped := member("Deployment/erlmcp", rollout.Progressing, "", "1/3 updated")
	stopped.Stopped = true
	tests := []struct {
		name     string
		out      verify.SetOutcome
		kind     verify.Kind
		reason   string
		rollBack bool
	}{
		{"every member ready", verify.SetOutcome{Members: []verify.MemberOutcome{ok("ConfigMap/c"), ok("Deployment/erlmcp")}}, verify.Verified, "", false},
		{"one doomed member dooms the set; the one stopped for it is not blamed",
			verify.SetOutcome{Members: []verify.MemberOutcome{stopped, member("Deployment/erlmcp-dashboard", rollout.Failed, "ErrImagePull", "p/c: ErrImagePull: not found")}},
			verify.Doomed, "Deployment/erlmcp-dashboard: p/c: ErrImagePull: not found", true},
		{"another writer outranks a doomed member: no rollback over it",
			verify.SetOutcome{Members: []verify.MemberOutcome{member("Deployment/a", rollout.Failed, "CrashLoopBackOff", "crash"),
				member("Deployment/b", rollout.Failed, rollout.ReasonTemplateChanged, "changed by argocd")}},
			verify.Foreign, "Deployment/b: TemplateChanged: changed by argocd", false},
		{"a doomed member outranks an unknown one",
			verify.SetOutcome{Members: []verify.MemberOutcome{member("Deployment/a", rollout.Failed, rollout.ReasonAPIUnavailable, "api down"),
				member("Deployment/b", rollout.Failed, "OOMKilled", "oom")}},
			verify.Doomed, "Deployment/b: OOMKilled: oom", true},
		{"unknown alone: no rollback", verify.SetOutcome{Members: []verify.MemberOutcome{member("Deployment/a", rollout.Failed, rollout.ReasonAPIUnavailable, "api down")}},
			verify.Unknown, "Deployment/a: APIUnavailable: api down", false},
		{"the health check after a ready set", verify.SetOutcome{Members: []verify.MemberOutcome{ok("Deployment/a")}, Health: "failed", HealthMessage: "GET /health: 503"},
			verify.Doomed, "HealthCheckFailed: GET /health: 503", true},
		{"a member without a verdict (cancelled) is not verified", verify.SetOutcome{Members: []verify.MemberOutcome{ok("Deployment/a"), member("Deployment/b", rollout.Progressing, "", "1/3")}},
			verify.Unknown, "Deployment/b did not reach a verdict: 1/3", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := verify.ConcludeSet(tc.out)
			assert.Equal(t, tc.kind, c.Kind)
			assert.Equal(t, tc.reason, c.Reason)
			assert.Equal(t, tc.rollBack, c.RollBack)
		})
	}
}
