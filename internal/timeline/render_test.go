package timeline_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/summary"
	"github.com/org/erlmcp-deploy/internal/timeline"
	"github.com/org/erlmcp-deploy/internal/ui"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const img = "ghcr.io/acme/erlmcp:1.1.0"

// phase logs a group that lasts d.
func phase(l ui.Logger, c *clock, title string, d time.Duration) {
	end := l.Group(title)
	c.Advance(d)
	end()
}

// verified is a rollout (or a rollback's) verify step that passes its health check.
func verified(l ui.Logger, c *clock, title string, wait time.Duration) {
	end := l.Group(title)
	c.Advance(wait)
	h := l.Group("Health check")
	c.Advance(600 * time.Millisecond)
	l.Infof("health check passed")
	h()
	end()
}

func preflight(l ui.Logger, c *clock) {
	phase(l, c, "Connect", 150*time.Millisecond)
	phase(l, c, "Pre-flight: deployment erlmcp/erlmcp (production)", 420*time.Millisecond)
	l.Infof("backup of revision 4 written")
	phase(l, c, "Deploy "+img+" to container erlmcp", 80*time.Millisecond)
}

// scenarios are runs as the engines log them.
var scenarios = map[string]func(l *timeline.Recorder, c *clock){
	"rolling-succeeded": func(l *timeline.Recorder, c *clock) {
		preflight(l, c)
		verified(l, c, "Rollout", 18*time.Second)
		l.Infof("revision 5 is serving %s", img)
	},
	"crash-rolled-back": func(l *timeline.Recorder, c *clock) {
		preflight(l, c)
		phase(l, c, "Rollout", 31500*time.Millisecond)
		phase(l, c, "Diagnostics", 700*time.Millisecond)
		l.Errorf("rollout of %s failed after 31.5s: erlmcp-7d9c-x2x/erlmcp: CrashLoopBackOff: back-off 40s restarting failed container", img)
		l.Infof("rolling back to revision 4")
		c.Advance(200 * time.Millisecond)
		verified(l, c, "Rollback to revision 4", 9800*time.Millisecond)
		l.Infof("rolled back in 10.6s")
	},
	"canary-aborted": func(l *timeline.Recorder, c *clock) {
		phase(l, c, "Connect", 150*time.Millisecond)
		phase(l, c, "Canary pre-flight: deployment erlmcp/erlmcp (production)", 600*time.Millisecond)
		for i, pct := range []int{10, 50} {
			phase(l, c, fmt.Sprintf("Canary step %d%%: %d canary pod(s) of %s next to 10 stable", pct, pct/10, img), 300*time.Millisecond)
			phase(l, c, fmt.Sprintf("Canary step %d%%: rollout of erlmcp-canary", pct), 8*time.Second)
			end := l.Group(fmt.Sprintf("Canary step %d%%: analysis, 3 measurements every 30s", pct))
			c.Advance(60 * time.Second)
			if i == 1 {
				l.Warnf("measurement 2 of 3: error rate 4.1%% above 1%%")
				c.Advance(30 * time.Second)
			}
			end()
		}
		l.Errorf("canary of %s aborted: step 2 (50%%): analysis failed: error rate 4.1%% > 1%% in 2 of 3 measurements", img)
		c.Advance(1200 * time.Millisecond)
	},
	"waves-three-contexts": func(l *timeline.Recorder, c *clock) {
		a := l.Lane("kind-a (wave 1)", nil)
		preflight(a, c)
		verified(a, c, "Rollout", 12*time.Second)
		b, cc := l.Lane("kind-b (wave 2)", nil), l.Lane("kind-c (wave 2)", nil)
		// wave 2: two contexts side by side, their lines interleaved
		phase(b, c, "Connect", 150*time.Millisecond)
		phase(cc, c, "Connect", 180*time.Millisecond)
		phase(b, c, "Pre-flight: deployment erlmcp/erlmcp (production)", 400*time.Millisecond)
		phase(cc, c, "Pre-flight: deployment erlmcp/erlmcp (production)", 450*time.Millisecond)
		phase(b, c, "Deploy "+img+" to container erlmcp", 80*time.Millisecond)
		phase(cc, c, "Deploy "+img+" to container erlmcp", 90*time.Millisecond)
		endB, endC := b.Group("Rollout"), cc.Group("Rollout")
		c.Advance(9 * time.Second)
		endC()
		phase(cc, c, "Diagnostics", 500*time.Millisecond)
		cc.Errorf("rollout of %s failed after 9.6s: replicaset/erlmcp-584b9d75: FailedCreate: exceeded quota: pods", img)
		c.Advance(3 * time.Second)
		endB()
		verified(cc, c, "Rollback to revision 1", 6*time.Second)
		// rollback-scope wave: the context of wave 2 that succeeded is rolled back too
		phase(b, c, "Rollback plan: deployment erlmcp/erlmcp (production)", 300*time.Millisecond)
		verified(b, c, "Rollout of revision 1", 5*time.Second)
	},
	"too-long-table": func(l *timeline.Recorder, c *clock) {
		phase(l, c, "Connect", 150*time.Millisecond)
		phase(l, c, "Canary pre-flight: deployment erlmcp/erlmcp (production)", 600*time.Millisecond)
		for pct := 5; pct < 100; pct += 5 {
			phase(l, c, fmt.Sprintf("Canary step %d%%: %d canary pod(s) of %s next to 20 stable", pct, pct/5, img), 300*time.Millisecond)
			phase(l, c, fmt.Sprintf("Canary step %d%%: rollout of erlmcp-canary", pct), 8*time.Second)
			phase(l, c, fmt.Sprintf("Canary step %d%%: analysis, 3 measurements every 1m", pct), 3*time.Minute)
		}
		l.Warnf("stable is not fully available (19/20): the canary is compared with a degraded service")
		preflight(l, c)
		phase(l, c, "Rollout", 40*time.Second)
		phase(l, c, "Diagnostics", 700*time.Millisecond)
		l.Errorf("rollout of %s failed after 40s: Progressing=False (ProgressDeadlineExceeded)", img)
		verified(l, c, "Rollback to revision 4", 20*time.Second)
	},
}

func render(name string) string {
	c := newClock()
	r := timeline.New(ui.Discard{}, timeline.WithClock(c.Now))
	scenarios[name](r, c)
	return markdown(r.Timeline())
}

func markdown(t timeline.Timeline) string {
	s := summary.New()
	timeline.Render(s, t)
	return s.String()
}

func TestRenderGolden(t *testing.T) {
	for name := range scenarios {
		t.Run(name, func(t *testing.T) {
			got := render(name)
			path := filepath.Join("testdata", name+".md")
			if *update {
				require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./internal/timeline -update to create it")
			assert.Equal(t, string(want), got)
		})
	}
}

func TestRenderChartOrTable(t *testing.T) {
	for name := range scenarios {
		got := render(name)
		if name == "too-long-table" {
			assert.NotContains(t, got, "```mermaid", name)
			assert.Contains(t, got, "| Phase | Start | Duration | Outcome |", name)
			assert.Contains(t, got, "| … 39 more |", name)
			assert.Contains(t, got, "| ✖ rollout of "+img+" failed after 40s: Progressing=False (ProgressDeadlineExceeded) |", name)
			assert.Less(t, len(got), 8<<10, "the table is capped too")
			continue
		}
		assert.True(t, strings.HasPrefix(got, "```mermaid\ngantt\n"), name)
		assert.Less(t, len(got), timeline.MaxGanttBytes, name)
	}
}

// taskLine is the gantt task grammar Render emits: a name without ":", "#"
// or ";", then tags, an id, a start and an end (milliseconds).
var taskLine = regexp.MustCompile(`^    ([^:#;\n]+) :((?:crit|active|done|milestone), )*([tm]\d+), (\d+), (\d+)$`)

var sectionLine = regexp.MustCompile(`^    section ([^:#;\n]+)$`)

// checkGantt asserts that every line of each mermaid block of md is one Render may emit.
func checkGantt(t *testing.T, md string) {
	t.Helper()
	blocks := regexp.MustCompile("(?s)```mermaid\n(.*?)\n```").FindAllStringSubmatch(md, -1)
	for _, b := range blocks {
		lines := strings.Split(b[1], "\n")
		require.GreaterOrEqual(t, len(lines), 6)
		assert.Equal(t, []string{"gantt", "    dateFormat x"}, lines[:2])
		assert.Regexp(t, `^    axisFormat (%M:%S|%H:%M:%S)$`, lines[2])
		assert.Equal(t, "    todayMarker off", lines[3])
		assert.Regexp(t, sectionLine, lines[4], "a section comes first")
		ids := map[string]bool{}
		tasks := 0
		for _, l := range lines[4:] {
			if sectionLine.MatchString(l) {
				continue
			}
			m := taskLine.FindStringSubmatch(l)
			if !assert.NotNil(t, m, "not a task line: %q", l) {
				continue
			}
			tasks++
			name, id := m[1], m[3]
			assert.Equal(t, strings.TrimSpace(name), name, l)
			assert.LessOrEqual(t, utf8.RuneCountInString(name), timeline.MaxName, l)
			assert.NotContains(t, name, "%%", l)
			assert.False(t, ids[id], "id %s used twice", id)
			ids[id] = true
			start, _ := strconv.Atoi(m[4])
			end, _ := strconv.Atoi(m[5])
			if strings.Contains(l, "milestone, ") {
				assert.Equal(t, start, end, "a milestone is a moment: %s", l)
				assert.True(t, strings.HasPrefix(id, "m"), l)
			} else {
				assert.Less(t, start, end, "a bar has a width: %s", l)
			}
		}
		assert.LessOrEqual(t, tasks, timeline.MaxTasks)
	}
}

func TestRenderGanttGrammar(t *testing.T) {
	for name := range scenarios {
		t.Run(name, func(t *testing.T) { checkGantt(t, render(name)) })
	}
	t.Run("hostile titles", func(t *testing.T) {
		c := newClock()
		r := timeline.New(ui.Discard{}, timeline.WithClock(c.Now))
		for _, title := range []string{"a: b", "#1; drop", "100%% done", "multi\nline\ttitle", "", "   ", "::", strings.Repeat("long ", 40),
			"%%{init: {}}%%", "Canary step 10%: analysis #3; ok", "日本語のタイトル: " + strings.Repeat("長", 80)} {
			phase(r, c, title, 0)
			r.Warnf("%s", title)
		}
		lane := r.Lane("ctx:with#odd;name", nil)
		phase(lane, c, "Rollout", time.Second)
		lane.Errorf("failed: #1;")
		md := markdown(r.Timeline())
		require.Contains(t, md, "```mermaid")
		checkGantt(t, md)
	})
	t.Run("a run of over an hour", func(t *testing.T) {
		c := newClock()
		r := timeline.New(ui.Discard{}, timeline.WithClock(c.Now))
		phase(r, c, "Rollout", 2*time.Hour)
		md := markdown(r.Timeline())
		assert.Contains(t, md, "axisFormat %H:%M:%S")
		checkGantt(t, md)
	})
}

func TestRenderZeroLengthPhasesStayVisible(t *testing.T) {
	c := newClock()
	r := timeline.New(ui.Discard{}, timeline.WithClock(c.Now))
	phase(r, c, "Connect", 0)
	phase(r, c, "Rollout", 50*time.Second)
	md := markdown(r.Timeline())
	assert.Contains(t, md, "    Connect :t1, 0, 500\n", "1% of the run")
	assert.Contains(t, md, "    Rollout :t2, 0, 50000\n")

	r = timeline.New(ui.Discard{}, timeline.WithClock(newClock().Now))
	phase(r, c, "Connect", 0)
	assert.Contains(t, markdown(r.Timeline()), "    Connect :t1, 0, 100\n", "at least 100 ms")
}

func TestRenderEmpty(t *testing.T) {
	s := summary.New()
	timeline.Render(s, timeline.Timeline{})
	assert.Equal(t, 0, s.Len())
	assert.Equal(t, "", markdown(timeline.Timeline{}))
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"Pre-flight: deployment erlmcp/erlmcp (production)": "Pre-flight - deployment erlmcp/erlmcp (production)",
		"Deploy ghcr.io/acme/erlmcp:1.1.0 to container x":   "Deploy ghcr.io/acme/erlmcp∶1.1.0 to container x",
		"issue #25; done":       "issue №25, done",
		"100%% sure":            "100% sure",
		"%%%%":                  "%",
		" two\nlines ":          "two lines",
		"":                      "(untitled)",
		strings.Repeat("x", 70): strings.Repeat("x", 59) + "…",
	} {
		assert.Equal(t, want, timeline.Sanitize(in, timeline.MaxName), "%q", in)
	}
}

func TestOffset(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                       "0:00.0",
		1234 * time.Millisecond: "0:01.2",
		61 * time.Second:        "1:01.0",
		time.Hour + 2*time.Minute + 3*time.Second: "1:02:03.0",
	} {
		assert.Equal(t, want, timeline.Offset(d))
	}
}
