package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/org/erlmcp-deploy/internal/bluegreen"
	"github.com/org/erlmcp-deploy/internal/canary"
	"github.com/org/erlmcp-deploy/internal/summary"
)

// Canary renders a canary's steps (size, verdict, analysis) for the job
// summary, below the deploy's own section: a pure function.
func Canary(res *canary.Result) *summary.Summary {
	s := summary.New()
	s.Heading(3, "Canary")
	var rows [][2]string
	if res.Cleaned != "" {
		rows = append(rows, [2]string{"Cleaned first", res.Cleaned})
	}
	rows = append(rows, [2]string{"Largest share on the new image", fmt.Sprintf("%.1f%% of pods", 100*res.MaxShare)})
	if res.AbortReason != "" {
		rows = append(rows, [2]string{"Aborted", res.AbortReason + fmt.Sprintf(" (%s after the canary started; stable untouched)", res.TimeToAbort.Round(100*time.Millisecond))})
	}
	if res.Waiting {
		rows = append(rows, [2]string{"Waiting", "the analysis was inconclusive: run deploy again with canary-decision: promote or abort"})
	}
	s.KeyValues(rows)
	var table [][]string
	for i, st := range res.Steps {
		verdict := "ready"
		if st.Verdict != "" {
			verdict = "failed: " + st.Verdict
		}
		analysis := "—"
		if st.Analysis != nil {
			var parts []string
			for _, m := range st.Analysis.Metrics {
				parts = append(parts, fmt.Sprintf("%s %s (%d/%d/%d pass/fail/no data)", m.Name, m.Outcome, m.Passed, m.Failed, m.Nodata))
			}
			analysis = string(st.Analysis.Outcome) + ": " + strings.Join(parts, "; ")
		}
		table = append(table, []string{fmt.Sprint(i + 1), fmt.Sprintf("%d%%", st.Percent), fmt.Sprintf("%d / %d", st.Canary, st.Stable), verdict, analysis,
			st.Elapsed.Round(100 * time.Millisecond).String()})
	}
	s.Table([]string{"Step", "Size", "Canary / stable pods", "Rollout", "Analysis", "Time"}, table)
	return s
}

// BlueGreen renders a blue-green deploy's switch for the job summary: a pure function.
func BlueGreen(res *bluegreen.Result) *summary.Summary {
	s := summary.New()
	s.Heading(3, "Blue-green")
	var rows [][2]string
	if res.Cleaned != "" {
		rows = append(rows, [2]string{"Cleaned first", res.Cleaned})
	}
	switch {
	case res.Switched.IsZero():
		rows = append(rows, [2]string{"Switch", "not switched: the live service never left the old pods"})
	case res.SwitchedBack:
		rows = append(rows, [2]string{"Switch", fmt.Sprintf("switched to green at %s, then back in %s (no pod started)",
			res.Switched.UTC().Format(time.TimeOnly), res.SwitchBack.Round(10*time.Millisecond))})
	default:
		rows = append(rows, [2]string{"Switch", "switched to green at " + res.Switched.UTC().Format(time.TimeOnly)})
	}
	if res.Reason != "" {
		rows = append(rows, [2]string{"Reason", res.Reason})
	}
	return s.KeyValues(rows)
}
