package report

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/org/erlmcp-deploy/internal/summary"
	"github.com/org/erlmcp-deploy/internal/timeline"
	"github.com/org/erlmcp-deploy/internal/waves"
)

// Clusters is a run over several contexts, for rendering.
type Clusters struct {
	// Stage is "Deploy" or "Rollback"; Environment and Image what it was of.
	Stage, Environment, Image string
	Scope                     waves.Scope
	Result                    waves.Result
	// Namespaces by context; Details by context (each context's own summary, shown when it did not succeed).
	Namespaces, Details map[string]string
	Duration            time.Duration
	// Timeline is the run's, a lane per context.
	Timeline timeline.Timeline
}

type clusterJSON struct {
	Context          string  `json:"context"`
	Wave             int     `json:"wave"`
	Namespace        string  `json:"namespace"`
	Status           string  `json:"status"`
	Revision         string  `json:"revision"`
	PreviousRevision string  `json:"previous-revision"`
	RolledBack       bool    `json:"rolled-back"`
	ScopeRollback    string  `json:"scope-rollback,omitempty"`
	DurationSeconds  float64 `json:"duration-seconds"`
	FailureReason    string  `json:"failure-reason"`
	FailureCause     string  `json:"failure-cause"`
}

// Status is the run's status output: succeeded when every context
// succeeded, else the gravest of the contexts' statuses.
func (c Clusters) Status() string {
	rank := func(status string) int {
		r, ok := map[string]int{"succeeded": 0, "unchanged": 0, "halted": 1, "cancelled": 1, "paused": 2, "aborted": 3, "rolled-back": 4}[status]
		if !ok {
			return 5 // failed, or a word this renderer does not know: as grave as a failure
		}
		return r
	}
	worst := "succeeded"
	for _, o := range c.Result.Outcomes {
		if rank(o.Status) > rank(worst) {
			worst = o.Status
		}
	}
	if worst == "halted" || worst == "cancelled" {
		return "failed"
	}
	return worst
}

// JSON is the clusters output.
func (c Clusters) JSON() string {
	out := make([]clusterJSON, 0, len(c.Result.Outcomes))
	for _, o := range c.Result.Outcomes {
		out = append(out, clusterJSON{Context: o.Context, Wave: o.Wave, Namespace: c.Namespaces[o.Context], Status: o.Status,
			Revision: o.Revision, PreviousRevision: o.PreviousRevision, RolledBack: o.RolledBack, ScopeRollback: o.ScopeRollback,
			DurationSeconds: roundSeconds(o.Duration), FailureReason: o.Reason, FailureCause: o.Cause})
	}
	b, _ := json.Marshal(out) // plain strings and numbers always encode
	return string(b)
}

func roundSeconds(d time.Duration) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(d.Seconds(), 'f', 1, 64), 64)
	return f
}

// Render is the outputs and the job summary of the run.
func (c Clusters) Render() Rendered {
	status := c.Status()
	var reasons, causes []string
	rolled := false
	for _, o := range c.Result.Outcomes {
		if o.Reason != "" {
			reasons = append(reasons, o.Context+": "+o.Reason)
		}
		if o.Cause != "" && !slices.Contains(causes, o.Cause) {
			causes = append(causes, o.Cause)
		}
		rolled = rolled || o.RolledBack
	}
	outputs := [][2]string{
		{"status", status},
		{"revision", ""},
		{"previous-revision", ""},
		{"image", c.Image},
		{"rolled-back", strconv.FormatBool(rolled)},
		{"failure-reason", strings.Join(reasons, "\n")},
		{"failure-cause", strings.Join(causes, ",")},
		{"duration-seconds", strconv.FormatFloat(c.Duration.Seconds(), 'f', 1, 64)},
		{"clusters", c.JSON()},
	}
	n, w := len(c.Result.Outcomes), 0
	for _, o := range c.Result.Outcomes {
		w = max(w, o.Wave)
	}
	icon := map[string]string{"succeeded": "✅", "rolled-back": "↩️", "failed": "❌", "aborted": "⏹️", "paused": "⏸️"}[status]
	title := fmt.Sprintf("%s %s to %s: %d contexts in %d waves, %s", icon, c.Stage, c.Environment, n, w, status)
	s := summary.New().Heading(2, strings.TrimSpace(title))
	kv := [][2]string{{"Image", summary.InlineCode(c.Image)}, {"Duration", c.Duration.Round(100 * time.Millisecond).String()}}
	if c.Scope != "" {
		kv = append(kv, [2]string{"Rollback scope", string(c.Scope)})
	}
	if c.Result.FailedWave > 0 {
		kv = append(kv, [2]string{"Halted", fmt.Sprintf("wave %d did not succeed: the waves after it were not started", c.Result.FailedWave)})
		if !c.Result.FirstFailure.IsZero() {
			kv = append(kv, [2]string{"Settled", fmt.Sprintf("every context settled %s after the first failure", c.Result.Settled.Sub(c.Result.FirstFailure).Round(100*time.Millisecond))})
		}
	}
	s.KeyValues(kv)
	var rows [][]string
	for _, o := range c.Result.Outcomes {
		st := o.Status
		if o.ScopeRollback != "" {
			st += " (rollback-scope: " + o.ScopeRollback + ")"
		}
		dur := ""
		if o.Duration > 0 {
			dur = o.Duration.Round(100 * time.Millisecond).String()
		}
		rows = append(rows, []string{strconv.Itoa(o.Wave), summary.InlineCode(o.Context), summary.InlineCode(c.Namespaces[o.Context]),
			o.PreviousRevision, o.Revision, st, dur, summary.Cell(o.Reason)})
	}
	s.Table([]string{"Wave", "Context", "Namespace", "Revision before", "Revision now", "Status", "Time", "Reason"}, rows)
	timelineSection(s, c.Timeline)
	for _, o := range c.Result.Outcomes {
		if d := c.Details[o.Context]; d != "" && o.Status != waves.StatusSucceeded {
			s.Details(o.Context+": "+o.Status, d)
		}
	}
	return Rendered{Outputs: outputs, Summary: s}
}
