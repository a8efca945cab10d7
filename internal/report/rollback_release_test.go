package report_test

import (
	"testing"
	"time"

	"github.com/org/erlmcp-deploy/internal/apply"
	"github.com/org/erlmcp-deploy/internal/inventory"
	"github.com/org/erlmcp-deploy/internal/report"
	rb "github.com/org/erlmcp-deploy/internal/rollback"
)

func TestRollbackReleaseSummaries(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	objs := func(n int) []inventory.Ref { return make([]inventory.Ref, n) }
	v1 := []string{"ghcr.io/acme/erlmcp-dashboard:1.0.0", "ghcr.io/acme/erlmcp:1.1.0"}
	v2 := []string{"ghcr.io/acme/erlmcp-dashboard:1.0.0", "ghcr.io/acme/erlmcp:1.2.0"}
	target := inventory.Release{Name: "erlmcp", Revision: 1, Status: inventory.Superseded, Images: v1, Time: at, Objects: objs(10),
		Cause: "deploy release erlmcp by octocat in https://github.com/acme/erlmcp/actions/runs/1"}
	before := []inventory.Release{
		{Name: "erlmcp", Revision: 2, Status: inventory.Deployed, Images: v2, Time: at.Add(time.Hour), Objects: objs(10),
			Cause: "deploy release erlmcp by octocat in https://github.com/acme/erlmcp/actions/runs/2"},
		target,
	}
	after := []inventory.Release{
		{Name: "erlmcp", Revision: 3, Status: inventory.Deployed, Images: v1, Time: at.Add(2 * time.Hour), Objects: objs(10),
			Cause: "rollback from revision 2 to revision 1", RolledBackFrom: 1},
		{Name: "erlmcp", Revision: 2, Status: inventory.Failed, Images: v2, Time: at.Add(time.Hour), Objects: objs(10),
			Cause: before[0].Cause, Reason: "rolled back from by https://github.com/acme/erlmcp/actions/runs/3"},
		target,
	}
	for name, res := range map[string]*rb.ReleaseResult{
		"rollback-release-succeeded": {Status: rb.StatusSucceeded, Release: "erlmcp", FromRevision: 2, Revision: 3, Target: &target, Images: v1,
			FromImages: v2, Duration: 6 * time.Second, History: after,
			Message: "rolled back release erlmcp from revision 2 (" + v2[0] + ", " + v2[1] + ") to revision 1's manifests (" + v1[0] + ", " + v1[1] + "), now revision 3",
			Objects: []apply.Object{
				{Name: "ConfigMap/erlmcp-config", Action: "configured", State: "ready"},
				{Name: "Deployment/erlmcp", Action: "configured", State: "ready"},
				{Name: "Ingress/erlmcp", Action: "created", State: "ready"},
				{Name: "ConfigMap/erlmcp-extra", Action: "deleted"},
			}},
		"rollback-release-dry-run": {Status: rb.StatusSucceeded, Release: "erlmcp", FromRevision: 2, Revision: 2, Target: &target, Images: v2,
			FromImages: v2, Duration: 200 * time.Millisecond, History: before, DryRun: true,
			Message: "dry run: the rollback would restore revision 1 of release erlmcp (10 objects applied, 1 deleted); nothing was changed",
			Objects: []apply.Object{
				{Name: "ConfigMap/erlmcp-config", Action: "apply"},
				{Name: "Ingress/erlmcp", Action: "create"},
				{Name: "ConfigMap/erlmcp-extra", Action: "delete"},
			}},
		"rollback-release-listed": {Status: rb.StatusListed, Release: "erlmcp", FromRevision: 3, Revision: 3, Images: v1, History: after},
	} {
		t.Run(name, func(t *testing.T) {
			golden(t, name, report.RollbackRelease("production", "erlmcp", res, timelines[name]))
		})
	}
}
