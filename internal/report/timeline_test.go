package report_test

import (
	"time"

	"github.com/org/erlmcp-deploy/internal/timeline"
	"github.com/org/erlmcp-deploy/internal/ui"
)

// run records what fn logs, the clock moving only when fn advances it.
func run(fn func(l ui.Logger, advance func(time.Duration))) timeline.Timeline {
	now := time.Date(2026, 12, 2, 3, 10, 0, 0, time.UTC)
	r := timeline.New(ui.Discard{}, timeline.WithClock(func() time.Time { return now }))
	fn(r, func(d time.Duration) { now = now.Add(d) })
	return r.Timeline()
}

// phase logs a group lasting d.
func phase(l ui.Logger, advance func(time.Duration), title string, d time.Duration) {
	end := l.Group(title)
	advance(d)
	end()
}

// checked logs a verify step: the wait, then the health check inside its group.
func checked(l ui.Logger, advance func(time.Duration), title string, wait time.Duration) {
	end := l.Group(title)
	advance(wait)
	phase(l, advance, "Health check", 400*time.Millisecond)
	end()
}

// timelines are the runs behind some of the golden summaries, logged as
// their engines log them; the others have none (and no Timeline section).
var timelines = map[string]timeline.Timeline{
	"deploy-succeeded": run(func(l ui.Logger, advance func(time.Duration)) {
		phase(l, advance, "Connect", 120*time.Millisecond)
		phase(l, advance, "Pre-flight: deployment erlmcp/erlmcp (production)", 380*time.Millisecond)
		phase(l, advance, "Deploy ghcr.io/acme/erlmcp:1.1.0 to container erlmcp", 90*time.Millisecond)
		checked(l, advance, "Rollout", 11300*time.Millisecond)
	}),
	"deploy-rolled-back": run(func(l ui.Logger, advance func(time.Duration)) {
		phase(l, advance, "Connect", 120*time.Millisecond)
		phase(l, advance, "Pre-flight: deployment erlmcp/erlmcp (production)", 380*time.Millisecond)
		phase(l, advance, "Deploy ghcr.io/acme/erlmcp:1.1.0 to container erlmcp", 90*time.Millisecond)
		phase(l, advance, "Rollout", 9100*time.Millisecond)
		phase(l, advance, "Diagnostics", 500*time.Millisecond)
		l.Errorf("rollout of ghcr.io/acme/erlmcp:1.1.0 failed after 9.1s: CrashLoopBackOff")
		advance(50 * time.Millisecond)
		checked(l, advance, "Rollback to revision 4", 1700*time.Millisecond)
	}),
	"release-rolled-back": run(func(l ui.Logger, advance func(time.Duration)) {
		phase(l, advance, "Connect", 150*time.Millisecond)
		phase(l, advance, "Load the manifests of release erlmcp", 60*time.Millisecond)
		phase(l, advance, "Pre-flight: release erlmcp in namespace erlmcp (production)", 300*time.Millisecond)
		phase(l, advance, "Plan: server-side dry run of every object", 250*time.Millisecond)
		phase(l, advance, "Apply revision 3 of release erlmcp (5 objects)", 400*time.Millisecond)
		phase(l, advance, "Verify revision 3 of release erlmcp", 1200*time.Millisecond)
		phase(l, advance, "Diagnostics: Deployment/erlmcp-dashboard", 300*time.Millisecond)
		l.Errorf("revision 3 of release erlmcp failed: Deployment/erlmcp-dashboard: ErrImagePull")
		phase(l, advance, "Restore revision 2 of release erlmcp (5 objects)", 500*time.Millisecond)
		checked(l, advance, "Verify the restored revision 2", 900*time.Millisecond)
	}),
	"rollback-succeeded": run(func(l ui.Logger, advance func(time.Duration)) {
		phase(l, advance, "Connect", 100*time.Millisecond)
		phase(l, advance, "Rollback plan: deployment erlmcp/erlmcp (production)", 300*time.Millisecond)
		checked(l, advance, "Rollout of revision 6", 2200*time.Millisecond)
	}),
	"clusters-halted": run(func(l ui.Logger, advance func(time.Duration)) {
		r := l.(*timeline.Recorder)
		deploy := func(l ui.Logger, wait time.Duration) {
			phase(l, advance, "Connect", 100*time.Millisecond)
			phase(l, advance, "Pre-flight: deployment erlmcp/erlmcp (production)", 300*time.Millisecond)
			phase(l, advance, "Deploy ghcr.io/acme/erlmcp:1.1.0 to container erlmcp", 100*time.Millisecond)
			checked(l, advance, "Rollout", wait)
		}
		canary := r.Lane("canary-eu", nil)
		deploy(canary, 20*time.Second)
		eu, us := r.Lane("prod-eu", nil), r.Lane("prod-us", nil)
		deploy(us, 19*time.Second)
		phase(eu, advance, "Connect", 100*time.Millisecond)
		phase(eu, advance, "Pre-flight: deployment erlmcp/erlmcp (production)", 300*time.Millisecond)
		phase(eu, advance, "Deploy ghcr.io/acme/erlmcp:1.1.0 to container erlmcp", 100*time.Millisecond)
		phase(eu, advance, "Rollout", 1500*time.Millisecond)
		eu.Errorf("rollout of ghcr.io/acme/erlmcp:1.1.0 failed after 1.5s: FailedCreate: exceeded quota: pods")
		checked(eu, advance, "Rollback to revision 1", 9*time.Second)
		for _, l := range []ui.Logger{us, canary} {
			phase(l, advance, "Rollback plan: deployment erlmcp/erlmcp (production)", 200*time.Millisecond)
			checked(l, advance, "Rollout of revision 1", 5*time.Second)
		}
	}),
}
