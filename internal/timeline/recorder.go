// Package timeline records what a run did and when — its log groups (the
// phases: pre-flight, the change, the rollout, the rollback, the health
// check), its error and warning lines — by wrapping the ui.Logger the engines
// write to, and renders it for the job summary: a Mermaid gantt, or a table
// when the run is too long for one. Engines know nothing of it; the action
// glue wraps their logger and hands the Timeline to the report.
package timeline

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/org/erlmcp-deploy/internal/ui"
)

// Span is one log group of the run: a phase.
type Span struct {
	// Lane is the part of the run it belongs to: a context of a run over
	// several ("" for the run's own).
	Lane  string
	Title string
	// Depth is 0 for a top-level group, 1 for a group inside it, …
	Depth int
	// Start and End are offsets from the start of the recording.
	Start, End time.Duration
	// Open: the group had not ended when the timeline was taken (End is that moment).
	Open bool
}

// EventKind is what kind of line an Event is.
type EventKind string

// Kinds of event.
const (
	Error   EventKind = "error"
	Warning EventKind = "warning"
)

// Event is an error or a warning line of the run.
type Event struct {
	Lane string
	Kind EventKind
	// Text is the line's first line.
	Text string
	// At is its offset from the start of the recording.
	At time.Duration
	// Span is the index in Timeline.Spans of the phase the line is about:
	// the innermost group open when it was logged, else the last group of
	// its lane that had ended (diagnostics aside: they explain a failure),
	// or that group's last nested group when ending it was the last thing
	// the group did (a failed health check ends the rollout group); -1
	// when there is none.
	Span int
}

// Timeline is what a Recorder saw: the groups in the order they started,
// the error and warning lines in the order they were logged.
type Timeline struct {
	Spans  []Span
	Events []Event
	// Duration is how long the recording had run when the timeline was taken.
	Duration time.Duration
}

// Empty reports whether nothing was recorded.
func (t Timeline) Empty() bool { return len(t.Spans) == 0 && len(t.Events) == 0 }

// Failed reports whether an error line is about span i.
func (t Timeline) Failed(i int) bool {
	for _, e := range t.Events {
		if e.Kind == Error && e.Span == i {
			return true
		}
	}
	return false
}

// Option configures a Recorder.
type Option func(*record)

// WithClock replaces time.Now (tests inject a fake clock).
func WithClock(now func() time.Time) Option { return func(r *record) { r.now = now } }

// Recorder is a ui.Logger that passes every line and group on, unchanged, to
// another Logger and records the run's timeline. It is safe for concurrent
// use; contexts running side by side each log through a Lane of it.
type Recorder struct {
	inner ui.Logger
	lane  string
	rec   *record
}

var _ ui.Logger = (*Recorder)(nil)

// New returns a Recorder passing everything on to inner; the recording starts now.
func New(inner ui.Logger, opts ...Option) *Recorder {
	rc := &record{now: time.Now, lanes: map[string]*laneState{}}
	for _, o := range opts {
		o(rc)
	}
	rc.start = rc.now()
	return &Recorder{inner: inner, rec: rc}
}

// Lane returns a Recorder for one part of the run (a context of a run over
// several) that passes its lines on to inner (r's own Logger when nil) and
// records into r's timeline under name.
func (r *Recorder) Lane(name string, inner ui.Logger) *Recorder {
	if inner == nil {
		inner = r.inner
	}
	return &Recorder{inner: inner, lane: name, rec: r.rec}
}

// Name is the recorder's lane ("" for the run's own).
func (r *Recorder) Name() string { return r.lane }

// Timeline returns what was recorded so far, in every lane.
func (r *Recorder) Timeline() Timeline { return r.rec.snapshot() }

// Own is the timeline r's run shows in its own summary: all of it for the
// run's recorder, nothing for a lane (the larger run that it is a part of
// shows every lane).
func (r *Recorder) Own() Timeline {
	if r.lane != "" {
		return Timeline{}
	}
	return r.Timeline()
}

// Infof passes the line on.
func (r *Recorder) Infof(format string, args ...any) {
	r.rec.tick(r.lane)
	r.inner.Infof(format, args...)
}

// Debugf passes the line on.
func (r *Recorder) Debugf(format string, args ...any) {
	r.rec.tick(r.lane)
	r.inner.Debugf(format, args...)
}

// Warnf records the warning and passes it on.
func (r *Recorder) Warnf(format string, args ...any) {
	r.rec.event(r.lane, Warning, fmt.Sprintf(format, args...), false)
	r.inner.Warnf(format, args...)
}

// Errorf records the error and passes it on.
func (r *Recorder) Errorf(format string, args ...any) {
	r.rec.event(r.lane, Error, fmt.Sprintf(format, args...), false)
	r.inner.Errorf(format, args...)
}

// Fail records the run's failure without logging it (the caller reports
// it), unless an error line was already recorded in this lane.
func (r *Recorder) Fail(text string) { r.rec.event(r.lane, Error, text, true) }

// Group records the group and passes it on; the returned function ends both.
func (r *Recorder) Group(title string) func() {
	i := r.rec.begin(r.lane, title)
	end := r.inner.Group(title)
	var once sync.Once
	return func() {
		once.Do(func() {
			r.rec.finish(r.lane, i)
			end()
		})
	}
}

// record is the timeline that a Recorder and its lanes share.
type record struct {
	mu     sync.Mutex
	now    func() time.Time
	start  time.Time
	spans  []Span
	meta   []spanMeta
	events []Event
	lanes  map[string]*laneState
}

// spanMeta is what attributes a line to a span.
type spanMeta struct {
	parent int
	// lastChild ended at lastChildEnd (the lane's seq); tail is the nested
	// group whose end was the last thing this one did (-1 when none).
	lastChild, lastChildEnd, tail int
	ended                         bool
}

// laneState is a lane's open groups, its groups in the order they ended,
// and a count of everything logged in it.
type laneState struct {
	open, ended []int
	seq         int
	errors      int
}

func (rc *record) lane(name string) *laneState {
	ls := rc.lanes[name]
	if ls == nil {
		ls = &laneState{}
		rc.lanes[name] = ls
	}
	return ls
}

func (rc *record) offset() time.Duration { return max(rc.now().Sub(rc.start), 0) }

func (rc *record) tick(lane string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.lane(lane).seq++
}

func (rc *record) begin(lane, title string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	ls := rc.lane(lane)
	ls.seq++
	parent := -1
	if n := len(ls.open); n > 0 {
		parent = ls.open[n-1]
	}
	at := rc.offset()
	rc.spans = append(rc.spans, Span{Lane: lane, Title: oneLine(title), Depth: len(ls.open), Start: at, End: at})
	rc.meta = append(rc.meta, spanMeta{parent: parent, lastChild: -1, tail: -1})
	i := len(rc.spans) - 1
	ls.open = append(ls.open, i)
	return i
}

func (rc *record) finish(lane string, i int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	ls := rc.lane(lane)
	ls.seq++
	rc.spans[i].End = rc.offset()
	m := &rc.meta[i]
	m.ended = true
	if m.lastChild >= 0 && m.lastChildEnd == ls.seq-1 {
		m.tail = m.lastChild
	}
	if p := m.parent; p >= 0 {
		rc.meta[p].lastChild, rc.meta[p].lastChildEnd = i, ls.seq
	}
	if j := slices.Index(ls.open, i); j >= 0 {
		ls.open = slices.Delete(ls.open, j, j+1)
	}
	ls.ended = append(ls.ended, i)
}

func (rc *record) event(lane string, kind EventKind, text string, onlyFirst bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	ls := rc.lane(lane)
	if onlyFirst && ls.errors > 0 {
		return
	}
	ls.seq++
	if kind == Error {
		ls.errors++
	}
	rc.events = append(rc.events, Event{Lane: lane, Kind: kind, Text: firstLine(text), At: rc.offset(), Span: rc.about(ls)})
}

// about is the span a line logged now in ls is about (see Event.Span).
func (rc *record) about(ls *laneState) int {
	if n := len(ls.open); n > 0 {
		return ls.open[n-1]
	}
	for j := len(ls.ended) - 1; j >= 0; j-- {
		i := ls.ended[j]
		if Classify(rc.spans[i].Title) == KindDiagnostics {
			continue
		}
		for rc.meta[i].tail >= 0 {
			i = rc.meta[i].tail
		}
		return i
	}
	return -1
}

func (rc *record) snapshot() Timeline {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	now := rc.offset()
	t := Timeline{Spans: slices.Clone(rc.spans), Events: slices.Clone(rc.events), Duration: now}
	for i := range t.Spans {
		if !rc.meta[i].ended {
			t.Spans[i].End, t.Spans[i].Open = now, true
		}
	}
	return t
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
