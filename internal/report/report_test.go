package report_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/ptr"

	"github.com/org/erlmcp-deploy/internal/apply"
	"github.com/org/erlmcp-deploy/internal/bootcause"
	engine "github.com/org/erlmcp-deploy/internal/deploy"
	"github.com/org/erlmcp-deploy/internal/diagnose"
	"github.com/org/erlmcp-deploy/internal/history"
	"github.com/org/erlmcp-deploy/internal/manifest"
	"github.com/org/erlmcp-deploy/internal/report"
	rb "github.com/org/erlmcp-deploy/internal/rollback"
	"github.com/org/erlmcp-deploy/internal/rollout"
	"github.com/org/erlmcp-deploy/internal/verify"
	"github.com/org/erlmcp-deploy/internal/waves"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares the rendered outputs and summary with testdata/<name>.md.
func golden(t *testing.T, name string, r report.Rendered) {
	t.Helper()
	var b strings.Builder
	b.WriteString("<!-- outputs\n")
	for _, kv := range r.Outputs {
		b.WriteString(kv[0] + "=" + kv[1] + "\n")
	}
	b.WriteString("-->\n")
	b.WriteString(r.Summary.String())
	path := filepath.Join("testdata", name+".md")
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./internal/report -update to create it")
	assert.Equal(t, string(want), b.String())
}

var (
	opts  = engine.Options{Environment: "production", Namespace: "erlmcp", Deployment: "erlmcp"}
	diags = &diagnose.Report{Pods: []diagnose.Pod{{Name: "erlmcp-7d9c-x2x", Phase: "Running", Node: "node-1", Containers: []diagnose.Container{{
		Name: "erlmcp", Image: "ghcr.io/acme/erlmcp:1.1.0", Restarts: 3, State: "waiting: CrashLoopBackOff", Last: "terminated: Error (exit 1)",
		Logs: crashLog, LogsPrevious: true, Boot: ptr.To(bootcause.Classify([]byte(crashLog)))}}}},
		Events: []diagnose.Event{{Object: "pod/erlmcp-7d9c-x2x", Reason: "BackOff", Message: "Back-off restarting failed container", Count: 3,
			Last: time.Date(2026, 12, 2, 3, 10, 30, 0, time.UTC)}}}
	// crashLog is what a release whose runtime.exs needs an unset variable prints (OTP 25, Elixir 1.14).
	crashLog = "ERROR! Config provider Config.Reader failed with:\n** (RuntimeError) environment variable ERLMCP_SECRET_KEY is missing.\n" +
		"    (elixir 1.14.0) lib/system.ex:706: System.fetch_env!/1\n\nRuntime terminating during boot ({#{'__exception__'=>true,...}})"
	crashVerdict = rollout.Verdict{Phase: rollout.Failed, Reason: "CrashLoopBackOff", Problems: []rollout.Problem{{Pod: "erlmcp-7d9c-x2x", Container: "erlmcp",
		Reason: "CrashLoopBackOff", Message: "back-off 40s restarting failed container (restarted 3 times since the change, tolerance 2)"}}}
	pullVerdict = rollout.Verdict{Phase: rollout.Failed, Reason: "ErrImagePull", Problems: []rollout.Problem{{Pod: "erlmcp-7d9c-x2x", Container: "erlmcp",
		Reason: "ErrImagePull", Message: `failed to pull and unpack image "ghcr.io/acme/erlmcp:1.1.0": failed to resolve reference "ghcr.io/acme/erlmcp:1.1.0": ghcr.io/acme/erlmcp:1.1.0: not found`}}}
)

func init() { diags.Cause = diagnose.Explain(crashVerdict, diags) }

func base(mut func(*engine.Result)) *engine.Result {
	r := &engine.Result{Image: "ghcr.io/acme/erlmcp:1.1.0", PreviousImages: []string{"ghcr.io/acme/erlmcp:1.0.0"},
		PreviousRevision: 4, Revision: 5, Duration: 12340 * time.Millisecond, BackupPath: "/runner/_temp/erlmcp-deploy-backup-erlmcp-erlmcp-rev4.json"}
	mut(r)
	return r
}

func TestDeploySummaries(t *testing.T) {
	for name, res := range map[string]*engine.Result{
		"deploy-succeeded": base(func(r *engine.Result) { r.Status, r.Conclusion = engine.StatusSucceeded, verify.Verified }),
		"deploy-rolled-back": base(func(r *engine.Result) {
			r.Status, r.Conclusion, r.RolledBack, r.Revision = engine.StatusRolledBack, verify.Doomed, true, 6
			r.FailureReason = "erlmcp-7d9c-x2x/erlmcp: CrashLoopBackOff: back-off 40s restarting failed container (restarted 3 times since the change, tolerance 2) (last exit 1, Error)"
			r.RollbackTo, r.RollbackImages, r.RollbackDuration, r.Diagnostics, r.Verdict = 4, []string{"ghcr.io/acme/erlmcp:1.0.0"}, 2100*time.Millisecond, diags, crashVerdict
		}),
		"deploy-unknown": base(func(r *engine.Result) {
			r.Status, r.Conclusion = engine.StatusFailed, verify.Unknown
			r.FailureReason = "APIUnavailable: the API server failed until the deadline (etcdserver: leader changed); once it answered, the rollout was still under way: 1 out of 3 new replicas have been updated"
			r.Advice = "no rollback: the rollout may have succeeded; run deploy again once the API server answers (it waits for the rollout and judges it), or rollback to return to the previous revision"
		}),
		"deploy-foreign": base(func(r *engine.Result) {
			r.Status, r.Conclusion, r.Revision = engine.StatusFailed, verify.Foreign, 6
			r.FailureReason = "TemplateChanged: deployment erlmcp's pod template was changed by argocd-controller (Apply at 03:10:02) while we waited: container erlmcp runs ghcr.io/acme/erlmcp:1.0.0, we deployed ghcr.io/acme/erlmcp:1.1.0"
			r.Advice = "no rollback over another writer's change: if a GitOps controller (Argo CD, Flux) owns this Deployment, deploy through it or suspend its self-heal, then deploy again"
		}),
		"deploy-no-good-target": base(func(r *engine.Result) {
			r.Status, r.Conclusion = engine.StatusFailed, verify.Doomed
			r.FailureReason = "erlmcp-7d9c-x2x/erlmcp: ErrImagePull: ghcr.io/acme/erlmcp:1.1.0: not found"
			r.RollbackError, r.Verdict = "no known-good revision", pullVerdict
			r.Advice = "no known-good revision to roll back to: when the deploy started the deployment was not serving a good revision (its rollout is unfinished (1/3 updated, 2 available, 4 in all)), and no revision was ever verified; fix the release and deploy again, or roll back by hand with the rollback action (to: a revision)"
		}),
		"deploy-dry-run": base(func(r *engine.Result) { r.Status, r.DryRun, r.Revision = engine.StatusSucceeded, true, 4 }),
	} {
		t.Run(name, func(t *testing.T) { golden(t, name, report.Deploy(opts, res, timelines[name])) })
	}
}

func TestRollbackSummaries(t *testing.T) {
	created := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	revs := []history.Revision{
		{Number: 6, Images: []string{"ghcr.io/acme/erlmcp:1.0.0"}, Created: created.Add(2 * time.Hour), Current: true, Successful: true, ChangeCause: "rollback"},
		{Number: 5, Images: []string{"ghcr.io/acme/erlmcp:1.1.0"}, Created: created.Add(time.Hour), Failed: "2026-12-02T03:10:00Z rolled back from by https://github.com/acme/erlmcp/actions/runs/1"},
		{Number: 3, Images: []string{"ghcr.io/acme/erlmcp:0.9.0"}, Created: created, Successful: true},
	}
	target := revs[0]
	for name, res := range map[string]*rb.Result{
		"rollback-succeeded": {Status: rb.StatusSucceeded, FromRevision: 5, Revision: 6, Target: &target, Images: target.Images,
			FromImages: []string{"ghcr.io/acme/erlmcp:1.1.0"}, Duration: 3 * time.Second, History: revs,
			Message: "rolled back from revision 5 (ghcr.io/acme/erlmcp:1.1.0) to revision 4's template (ghcr.io/acme/erlmcp:1.0.0), now revision 6"},
		"rollback-failed": {Status: rb.StatusFailed, FromRevision: 5, Revision: 6, Target: &target, Images: []string{"ghcr.io/acme/erlmcp:1.1.0"},
			FromImages: []string{"ghcr.io/acme/erlmcp:1.1.0"}, Duration: 31 * time.Second, Diagnostics: diags,
			Message: "the rollback to revision 4 failed: CrashLoopBackOff: back-off 40s (restarted 3 times since the change, tolerance 2)"},
		"rollback-listed": {Status: rb.StatusListed, FromRevision: 6, Revision: 6, Images: target.Images, History: revs},
	} {
		t.Run(name, func(t *testing.T) {
			golden(t, name, report.Rollback("production", "erlmcp", "erlmcp", res, timelines[name]))
		})
	}
}

func TestReleaseSummaries(t *testing.T) {
	ropts := apply.Options{Environment: "production", Namespace: "erlmcp", Release: "erlmcp", Manifests: []string{"k8s/erlmcp"}}
	objs := []apply.Object{
		{Name: "ConfigMap/erlmcp-config", Action: "configured", State: "ready"},
		{Name: "Deployment/erlmcp", Action: "configured", State: "ready"},
		{Name: "Deployment/erlmcp-dashboard", Action: "configured", State: "failed: erlmcp-dashboard-86f5-x/dashboard: ErrImagePull: ghcr.io/acme/erlmcp-dashboard:2.0.0: not found"},
		{Name: "ConfigMap/erlmcp-new", Action: "created", State: "ready"},
		{Name: "Service/erlmcp-headless", Action: "pruned"},
	}
	images := []string{"ghcr.io/acme/erlmcp-dashboard:2.0.0", "ghcr.io/acme/erlmcp:1.2.0"}
	for name, res := range map[string]*apply.Result{
		"release-succeeded": {Status: apply.StatusSucceeded, Release: "erlmcp", Revision: 3, PreviousRevision: 2, Images: images, Conclusion: verify.Verified,
			Duration: 8 * time.Second, TimeToVerdict: 7 * time.Second, Objects: []apply.Object{objs[0], objs[1], objs[3], objs[4]}},
		"release-rolled-back": {Status: apply.StatusRolledBack, Release: "erlmcp", Revision: 3, PreviousRevision: 2, Images: images, Conclusion: verify.Doomed,
			Duration: 4 * time.Second, TimeToVerdict: 1200 * time.Millisecond, Objects: objs, Failed: "Deployment/erlmcp-dashboard",
			FailureReason: "Deployment/erlmcp-dashboard: erlmcp-dashboard-86f5-x/dashboard: ErrImagePull: ghcr.io/acme/erlmcp-dashboard:2.0.0: not found",
			RolledBack:    true, RollbackTo: 2, RollbackRevision: 4, RollbackDuration: 1800 * time.Millisecond, Diagnostics: diags},
		"release-unchanged": {Status: apply.StatusSucceeded, Release: "erlmcp", Revision: 2, PreviousRevision: 2, Images: images, Conclusion: verify.Verified,
			Unchanged: true, Duration: 3 * time.Second, TimeToVerdict: 1 * time.Second, Objects: []apply.Object{
				{Name: "ConfigMap/erlmcp-config", Action: "unchanged", State: "ready"}, {Name: "Deployment/erlmcp", Action: "unchanged", State: "ready"}}},
		"release-dry-run": {Status: apply.StatusSucceeded, Release: "erlmcp", PreviousRevision: 2, Images: images, DryRun: true, Objects: []apply.Object{
			{Name: "ConfigMap/erlmcp-config", Action: "configure", Changes: []manifest.Change{{Path: "data.sys.config", From: "[{erlmcp, [{port, 8080}]}].", To: "[{erlmcp, [{port, 8081}]}]."}}},
			{Name: "Deployment/erlmcp", Action: "configure", Changes: []manifest.Change{{Path: "spec.template.spec.containers[name=erlmcp].image", From: "ghcr.io/acme/erlmcp:1.1.0", To: "ghcr.io/acme/erlmcp:1.2.0"}}},
			{Name: "ConfigMap/erlmcp-new", Action: "create"},
			{Name: "Service/erlmcp-headless", Action: "prune"},
		}},
	} {
		t.Run(name, func(t *testing.T) { golden(t, name, report.Release(ropts, res, timelines[name])) })
	}
}

func TestClustersGolden(t *testing.T) {
	at := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	res := waves.Result{FailedWave: 2, FirstFailure: at.Add(40 * time.Second), Settled: at.Add(52 * time.Second), Outcomes: []waves.Outcome{
		{Target: waves.Target{Context: "canary-eu", Wave: 1}, Status: "rolled-back", Revision: "3", PreviousRevision: "1", RolledBack: true, ScopeRollback: "succeeded", Duration: 21 * time.Second},
		{Target: waves.Target{Context: "prod-eu", Wave: 2}, Status: "rolled-back", Revision: "3", PreviousRevision: "1", RolledBack: true, Duration: 18 * time.Second,
			Reason: "replicaset/erlmcp-584b9d75: FailedCreate: exceeded quota: pods"},
		{Target: waves.Target{Context: "prod-us", Wave: 2}, Status: "rolled-back", Revision: "3", PreviousRevision: "1", RolledBack: true, ScopeRollback: "succeeded", Duration: 20 * time.Second},
		{Target: waves.Target{Context: "prod-ap", Wave: 3}, Status: "halted"},
	}}
	c := report.Clusters{Stage: "Deploy", Environment: "production", Image: "ghcr.io/acme/erlmcp:1.1.0", Scope: waves.ScopeAll, Result: res,
		Namespaces: map[string]string{"canary-eu": "erlmcp", "prod-eu": "erlmcp", "prod-us": "erlmcp-us", "prod-ap": "erlmcp"},
		Details:    map[string]string{"prod-eu": "## ↩️ Deploy to production failed and was rolled back\n"}, Duration: 61 * time.Second,
		Timeline: timelines["clusters-halted"]}
	assert.Equal(t, "rolled-back", c.Status())
	golden(t, "clusters-halted", c.Render())

	ok := waves.Result{Outcomes: []waves.Outcome{
		{Target: waves.Target{Context: "prod-eu", Wave: 1}, Status: "succeeded", Revision: "5", PreviousRevision: "4", Duration: 9 * time.Second},
		{Target: waves.Target{Context: "prod-us", Wave: 1}, Status: "succeeded", Revision: "5", PreviousRevision: "5", Duration: 2 * time.Second},
	}}
	c = report.Clusters{Stage: "Deploy", Environment: "production", Image: "ghcr.io/acme/erlmcp:1.1.0", Scope: waves.ScopeFailed, Result: ok,
		Namespaces: map[string]string{"prod-eu": "erlmcp", "prod-us": "erlmcp"}, Duration: 9500 * time.Millisecond}
	assert.Equal(t, "succeeded", c.Status())
	golden(t, "clusters-succeeded", c.Render())
}
