package timeline

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/org/erlmcp-deploy/internal/summary"
)

// Limits of the rendering, well under what GitHub renders and stores.
const (
	// MaxTasks is the most bars and milestones a gantt holds; a longer run is a table.
	MaxTasks = 40
	// MaxGanttBytes is the largest gantt block; a larger one is a table.
	MaxGanttBytes = 6 << 10
	// MaxRows is the most rows of the table: the first and the last ones, and a row saying how many are left out.
	MaxRows = 30
	// MaxName is the most characters of a task's name in the gantt.
	MaxName = 60
	// maxCell is the most characters of a table cell.
	maxCell = 120
)

// Render adds the timeline to s: a Mermaid gantt, one section per kind of
// phase (per context in a run over several), the failures as milestones and
// the failed phases marked critical; or, when the run is too long for a
// chart, a table of its phases. It adds nothing when t is empty.
func Render(s *summary.Summary, t Timeline) {
	if t.Empty() {
		return
	}
	items := build(t)
	if g, ok := gantt(t, items); ok {
		s.Code("mermaid", g)
		return
	}
	s.Para(fmt.Sprintf("The run had %d phases and events, too many for a chart:", len(items)))
	header, rows := table(items, multiLane(t))
	s.Table(header, rows)
}

// item is one bar or milestone.
type item struct {
	lane, section, name string
	depth               int
	event               EventKind // "" for a phase
	start, end          time.Duration
	tags                []string
	outcome             string
	more                int // events merged into this one
	// order breaks ties of start: a phase's, and right after it the lines about it.
	order int
}

func multiLane(t Timeline) bool {
	for _, sp := range t.Spans {
		if sp.Lane != "" {
			return true
		}
	}
	for _, e := range t.Events {
		if e.Lane != "" {
			return true
		}
	}
	return false
}

// build turns the timeline into items in the order they started: every
// phase, and the events of a lane about the same phase and of the same
// kind merged into the first of them.
func build(t Timeline) []item {
	multi := multiLane(t)
	section := func(lane string, span int) string {
		switch {
		case multi && lane == "":
			return "Run"
		case multi:
			return lane
		case span >= 0:
			return string(Classify(t.Spans[span].Title))
		}
		return "Run"
	}
	var items []item
	for i, sp := range t.Spans {
		it := item{lane: sp.Lane, section: section(sp.Lane, i), name: sp.Title, depth: sp.Depth, start: sp.Start, end: sp.End, outcome: "done", order: 2*i + 1}
		switch {
		case t.Failed(i):
			it.tags, it.outcome = []string{"crit"}, "failed"
		case sp.Open:
			it.tags, it.outcome = []string{"active"}, "unfinished"
		case Classify(sp.Title) == KindRollback:
			it.tags = []string{"active"}
		}
		items = append(items, it)
	}
	type key struct {
		lane string
		kind EventKind
		span int
	}
	merged := map[key]int{}
	var events []item
	for _, e := range t.Events {
		k := key{e.Lane, e.Kind, e.Span}
		if j, ok := merged[k]; ok {
			events[j].more++
			continue
		}
		merged[k] = len(events)
		it := item{lane: e.Lane, section: section(e.Lane, e.Span), event: e.Kind, start: e.At, end: e.At, outcome: string(e.Kind), order: 2*e.Span + 2}
		if e.Kind == Error {
			it.name, it.tags = "✖ "+e.Text, []string{"crit", "milestone"}
		} else {
			it.name, it.tags = "⚠ "+e.Text, []string{"milestone"}
		}
		events = append(events, it)
	}
	items = append(items, events...)
	// At the same moment, a line comes right after the phase it is about
	// (a failure logged as the rollback begins is the rollout's).
	slices.SortFunc(items, func(a, b item) int { return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.order, b.order)) })
	return items
}

// gantt is the Mermaid gantt of the items, false when it would exceed MaxTasks or MaxGanttBytes.
func gantt(t Timeline, items []item) (string, bool) {
	if len(items) > MaxTasks {
		return "", false
	}
	total := t.Duration
	for _, it := range items {
		total = max(total, it.end)
	}
	minWidth := max(total/100, 100*time.Millisecond)
	axis := "%M:%S"
	if total >= time.Hour {
		axis = "%H:%M:%S"
	}
	var sections []string
	bySection := map[string][]item{}
	for _, it := range items {
		if _, ok := bySection[it.section]; !ok {
			sections = append(sections, it.section)
		}
		bySection[it.section] = append(bySection[it.section], it)
	}
	var b strings.Builder
	// Offsets are milliseconds since the run's start: dateFormat x reads
	// them as Unix milliseconds, so the axis counts from 00:00.
	fmt.Fprintf(&b, "gantt\n    dateFormat x\n    axisFormat %s\n    todayMarker off\n", axis)
	tasks, milestones := 0, 0
	for _, sec := range sections {
		fmt.Fprintf(&b, "    section %s\n", Sanitize(sec, MaxName))
		for _, it := range bySection[sec] {
			end := it.end
			var id string
			if it.event != "" {
				milestones++
				id, end = fmt.Sprintf("m%d", milestones), it.start
			} else {
				tasks++
				id, end = fmt.Sprintf("t%d", tasks), max(end, it.start+minWidth)
			}
			data := append(slices.Clone(it.tags), id, ms(it.start), ms(end))
			fmt.Fprintf(&b, "    %s :%s\n", Sanitize(it.name, MaxName), strings.Join(data, ", "))
		}
	}
	if b.Len() > MaxGanttBytes {
		return "", false
	}
	return strings.TrimRight(b.String(), "\n"), true
}

func ms(d time.Duration) string { return fmt.Sprint(d.Milliseconds()) }

// table is the items as table rows, at most MaxRows of them: the first, a
// row saying how many were left out, and the last.
func table(items []item, multi bool) ([]string, [][]string) {
	header := []string{"Phase", "Start", "Duration", "Outcome"}
	if multi {
		header = append([]string{"Context"}, header...)
	}
	row := func(it item) []string {
		name := it.name
		if it.depth > 0 {
			name = strings.Repeat("  ", it.depth-1) + "↳ " + name
		}
		dur, outcome := "", it.outcome
		if it.event == "" {
			dur = (it.end - it.start).Round(100 * time.Millisecond).String()
		} else if it.more > 0 {
			outcome += fmt.Sprintf(" (and %d more)", it.more)
		}
		r := []string{capRunes(name, maxCell), Offset(it.start), dur, outcome}
		if multi {
			r = append([]string{capRunes(it.lane, maxCell)}, r...)
		}
		return r
	}
	var rows [][]string
	if len(items) <= MaxRows {
		for _, it := range items {
			rows = append(rows, row(it))
		}
		return header, rows
	}
	head, tail := MaxRows*2/3, MaxRows-MaxRows*2/3-1
	for _, it := range items[:head] {
		rows = append(rows, row(it))
	}
	gap := make([]string, len(header))
	gap[0] = fmt.Sprintf("… %d more", len(items)-head-tail)
	rows = append(rows, gap)
	for _, it := range items[len(items)-tail:] {
		rows = append(rows, row(it))
	}
	return header, rows
}

// Offset renders an offset from the start as m:ss.s (h:mm:ss.s from an hour on).
func Offset(d time.Duration) string {
	d = d.Round(100 * time.Millisecond)
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	sec := float64(d%time.Minute) / float64(time.Second)
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%04.1f", h, m, sec)
	}
	return fmt.Sprintf("%d:%04.1f", m, sec)
}

// nameReplacer keeps a gantt name or section off the syntax: ":" ends a
// task's name, "#" and ";" end its data, "%%" starts a comment. A colon
// followed by a space becomes a dash, one inside a word (an image tag) a
// ratio sign that looks like it.
var nameReplacer = strings.NewReplacer(": ", " - ", ":", "∶", "#", "№", ";", ",", "%%", "%", "\n", " ", "\r", " ", "\t", " ")

// Sanitize makes s a gantt task or section name of at most n characters:
// one line without ":", "#" or ";".
func Sanitize(s string, n int) string {
	s = oneLine(nameReplacer.Replace(s))
	for strings.Contains(s, "%%") {
		s = strings.ReplaceAll(s, "%%", "%")
	}
	if s == "" {
		s = "(untitled)"
	}
	return capRunes(s, n)
}

func capRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n-1])) + "…"
}
