package timeline_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/timeline"
	"github.com/org/erlmcp-deploy/internal/ui"
)

// clock is a fake clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// script is what a run logs, the clock moving between the lines.
func script(log ui.Logger, c *clock) {
	end := log.Group("Pre-flight: deployment erlmcp/erlmcp (production)")
	c.Advance(400 * time.Millisecond)
	log.Infof("backup of revision %d written", 4)
	end()
	end = log.Group("Rollout")
	c.Advance(20 * time.Second)
	log.Warnf("stable is not fully available (%d/%d)", 2, 3)
	h := log.Group("Health check")
	c.Advance(time.Second)
	log.Debugf("GET /health: %d", 200)
	h()
	end()
	log.Errorf("rollout failed:\nsecond line")
}

func TestRecorderPassesEverythingOn(t *testing.T) {
	var direct, wrapped strings.Builder
	script(ui.NewText(&direct, true), newClock())
	c := newClock()
	script(timeline.New(ui.NewText(&wrapped, true), timeline.WithClock(c.Now)), c)
	assert.Equal(t, direct.String(), wrapped.String())
	assert.Contains(t, wrapped.String(), "  ▸ Health check\n    debug: GET /health: 200\n")
}

func TestRecorderRecordsGroupsAndLines(t *testing.T) {
	c := newClock()
	r := timeline.New(ui.Discard{}, timeline.WithClock(c.Now))
	script(r, c)
	c.Advance(time.Second)
	tl := r.Timeline()
	assert.Equal(t, []timeline.Span{
		{Title: "Pre-flight: deployment erlmcp/erlmcp (production)", End: 400 * time.Millisecond},
		{Title: "Rollout", Start: 400 * time.Millisecond, End: 21400 * time.Millisecond},
		{Title: "Health check", Depth: 1, Start: 20400 * time.Millisecond, End: 21400 * time.Millisecond},
	}, tl.Spans)
	assert.Equal(t, []timeline.Event{
		{Kind: timeline.Warning, Text: "stable is not fully available (2/3)", At: 20400 * time.Millisecond, Span: 1},
		{Kind: timeline.Error, Text: "rollout failed:", At: 21400 * time.Millisecond, Span: 2},
	}, tl.Events)
	assert.Equal(t, 22400*time.Millisecond, tl.Duration)
	assert.True(t, tl.Failed(2))
	assert.False(t, tl.Failed(1))
}

// TestRecorderAttributesLines: which phase an error or warning is about.
func TestRecorderAttributesLines(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(l ui.Logger)
		want string // the title of the span the last event is about ("" for none)
	}{
		{"no group yet", func(l ui.Logger) { l.Errorf("bad input") }, ""},
		{"inside a group", func(l ui.Logger) {
			end := l.Group("Deploy x to container y")
			l.Errorf("cancelled while patching")
			end()
		}, "Deploy x to container y"},
		{"innermost open group", func(l ui.Logger) {
			end := l.Group("Rollout")
			h := l.Group("Health check")
			l.Errorf("boom")
			h()
			end()
		}, "Health check"},
		{"after a group: the last one that ended", func(l ui.Logger) {
			l.Group("Pre-flight: deployment a/b (c)")()
			l.Infof("some line")
			l.Errorf("cancelled during pre-flight")
		}, "Pre-flight: deployment a/b (c)"},
		{"diagnostics aside", func(l ui.Logger) {
			l.Group("Rollout")()
			l.Group("Diagnostics")()
			l.Errorf("rollout failed")
		}, "Rollout"},
		{"the nested group that ended its parent", func(l ui.Logger) {
			end := l.Group("Rollout")
			l.Group("Health check")()
			end()
			l.Group("Diagnostics")()
			l.Errorf("HealthCheckFailed")
		}, "Health check"},
		{"not a nested group that ended before the parent's last lines", func(l ui.Logger) {
			end := l.Group("Apply revision 3 of release r (2 objects)")
			l.Group("Plan: server-side dry run of every object")()
			l.Infof("configured Deployment/r")
			end()
			l.Errorf("apply failed")
		}, "Apply revision 3 of release r (2 objects)"},
		{"a group ended out of order", func(l ui.Logger) {
			outer := l.Group("Rollout")
			inner := l.Group("Health check")
			outer()
			l.Errorf("boom")
			inner()
		}, "Health check"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := timeline.New(ui.Discard{})
			tc.run(r)
			tl := r.Timeline()
			require.NotEmpty(t, tl.Events)
			e := tl.Events[len(tl.Events)-1]
			if tc.want == "" {
				assert.Equal(t, -1, e.Span)
				return
			}
			require.GreaterOrEqual(t, e.Span, 0)
			assert.Equal(t, tc.want, tl.Spans[e.Span].Title)
		})
	}
}

func TestRecorderFail(t *testing.T) {
	var out strings.Builder
	r := timeline.New(ui.NewText(&out, false))
	r.Group("Pre-flight: deployment a/b (c)")()
	r.Fail("deployment b not found (nothing was changed)")
	r.Fail("a second failure is not recorded")
	assert.Equal(t, "▸ Pre-flight: deployment a/b (c)\n", out.String(), "Fail logs nothing")
	tl := r.Timeline()
	require.Len(t, tl.Events, 1)
	assert.Equal(t, timeline.Event{Kind: timeline.Error, Text: "deployment b not found (nothing was changed)", At: tl.Events[0].At, Span: 0}, tl.Events[0])

	logged := timeline.New(ui.Discard{})
	logged.Errorf("rollout failed")
	logged.Fail("rollout failed, as the run's error")
	assert.Len(t, logged.Timeline().Events, 1, "the engine's error line already is the failure")
}

func TestRecorderOpenGroup(t *testing.T) {
	c := newClock()
	r := timeline.New(ui.Discard{}, timeline.WithClock(c.Now))
	r.Group("Rollout")
	c.Advance(3 * time.Second)
	tl := r.Timeline()
	assert.Equal(t, []timeline.Span{{Title: "Rollout", End: 3 * time.Second, Open: true}}, tl.Spans)
}

func TestRecorderEndIsIdempotent(t *testing.T) {
	c := newClock()
	r := timeline.New(ui.Discard{}, timeline.WithClock(c.Now))
	end := r.Group("Rollout")
	c.Advance(time.Second)
	end()
	c.Advance(time.Second)
	end()
	assert.Equal(t, time.Second, r.Timeline().Spans[0].End)
}

// TestRecorderLanes: contexts log side by side, each through its own
// logger (a prefixed fork of the run's), into one timeline.
func TestRecorderLanes(t *testing.T) {
	var root, a, b strings.Builder
	r := timeline.New(ui.NewText(&root, false), timeline.WithClock(newClock().Now))
	assert.Equal(t, "", r.Name())
	var wg sync.WaitGroup
	for _, lane := range []struct {
		name string
		out  *strings.Builder
	}{{"kind-a", &a}, {"kind-b", &b}} {
		l := r.Lane(lane.name, ui.NewText(lane.out, false))
		assert.Equal(t, lane.name, l.Name())
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				end := l.Group(fmt.Sprintf("Rollout %d", i))
				l.Infof("line %d", i)
				if i == 49 {
					l.Errorf("failed in %s", lane.name)
				}
				end()
			}
		}()
	}
	wg.Wait()
	r.Lane("kind-c", nil).Warnf("through the run's own logger")
	assert.Equal(t, "warning: through the run's own logger\n", root.String())
	assert.Contains(t, a.String(), "error: failed in kind-a")
	assert.NotContains(t, a.String(), "kind-b")

	tl := r.Timeline()
	assert.Len(t, tl.Spans, 100)
	count := map[string]int{}
	for _, sp := range tl.Spans {
		count[sp.Lane]++
		assert.Equal(t, 0, sp.Depth, "groups of one lane do not nest in another's")
	}
	assert.Equal(t, map[string]int{"kind-a": 50, "kind-b": 50}, count)
	require.Len(t, tl.Events, 3)
	for _, e := range tl.Events[:2] {
		if assert.GreaterOrEqual(t, e.Span, 0) {
			assert.Equal(t, e.Lane, tl.Spans[e.Span].Lane)
			assert.Equal(t, "Rollout 49", tl.Spans[e.Span].Title)
		}
	}
	assert.Equal(t, timeline.Event{Lane: "kind-c", Kind: timeline.Warning, Text: "through the run's own logger", Span: -1}, tl.Events[2])
	assert.Equal(t, tl, r.Own(), "the run shows every lane")
	assert.True(t, r.Lane("kind-a", nil).Own().Empty(), "a lane leaves its part to the run")
}

func TestClassify(t *testing.T) {
	for title, want := range map[string]timeline.Kind{
		"Connect": timeline.KindPreflight,
		"Pre-flight: deployment erlmcp/erlmcp (production)":             timeline.KindPreflight,
		"Canary pre-flight: deployment erlmcp/erlmcp (production)":      timeline.KindPreflight,
		"Blue-green pre-flight: deployment a/b behind service b (prod)": timeline.KindPreflight,
		"Load the manifests of release erlmcp":                          timeline.KindPreflight,
		"Plan: server-side dry run of every object":                     timeline.KindPreflight,
		"Rollback plan: deployment erlmcp/erlmcp (production)":          timeline.KindPreflight,
		"Canary plan: what release erlmcp changes":                      timeline.KindPreflight,
		"Deploy ghcr.io/acme/erlmcp:1.1.0 to container erlmcp":          timeline.KindChange,
		"Apply revision 3 of release erlmcp (5 objects)":                timeline.KindChange,
		"Prune what left release erlmcp (1 objects)":                    timeline.KindChange,
		"Canary step 10%: 1 canary pod(s) of x next to 10 stable":       timeline.KindChange,
		"Green: erlmcp-green on ghcr.io/acme/erlmcp:1.1.0":              timeline.KindChange,
		"Switch service erlmcp to green":                                timeline.KindChange,
		"Rollout":                                                       timeline.KindRollout,
		"Canary step 10%: rollout of erlmcp-canary":                     timeline.KindRollout,
		"Green: rollout":                                                  timeline.KindRollout,
		"Verify revision 3 of release erlmcp":                             timeline.KindRollout,
		"Canary step 10%: analysis, 3 measurements every 30s":             timeline.KindAnalysis,
		"Canary checks: 2 check(s) against deployment/erlmcp-canary:8080": timeline.KindAnalysis,
		"Green: preview check through service erlmcp-preview":             timeline.KindAnalysis,
		"Health check": timeline.KindHealth,
		"Diagnostics":  timeline.KindDiagnostics,
		"Diagnostics: Deployment/erlmcp-dashboard":         timeline.KindDiagnostics,
		"Rollback to revision 4":                           timeline.KindRollback,
		"Rollout of revision 4":                            timeline.KindRollback,
		"Restore revision 2 of release erlmcp (5 objects)": timeline.KindRollback,
		"Verify the restored revision 2":                   timeline.KindRollback,
		"Port-forward deployment/erlmcp:8080":              timeline.KindOther,
	} {
		assert.Equal(t, want, timeline.Classify(title), title)
	}
}
