package report

import (
	"strings"

	"github.com/org/erlmcp-deploy/internal/diagnose"
	"github.com/org/erlmcp-deploy/internal/rollout"
	"github.com/org/erlmcp-deploy/internal/summary"
)

// Classes of a failure that no rollout evidence names (a run stopped or
// refused before or around the rollout); with diagnose.Classes they are
// every value the failure-cause output takes.
const (
	CauseCancelled = "cancelled"
	CauseForbidden = "forbidden"
	CauseLocked    = "locked"
	CauseRefused   = "preflight"
	CauseError     = "error"
)

// maxHeadlineEvidence bounds the evidence quoted in a summary's first line.
const maxHeadlineEvidence = 160

// FailureCause is the cause of a failed run: the rollout evidence's when
// there is any, else read from the failure reason. Zero when nothing failed.
func FailureCause(failed bool, v rollout.Verdict, diag *diagnose.Report, reason string) diagnose.Cause {
	if !failed {
		return diagnose.Cause{}
	}
	if diag != nil && diag.Cause.Class != "" {
		return diag.Cause
	}
	if v.Phase == rollout.Failed && (diag != nil || len(v.Problems) > 0 || v.Reason != rollout.ReasonTimeout) {
		return diagnose.Explain(v, diag)
	}
	r := strings.ToLower(reason)
	c := diagnose.Cause{Detail: firstLineOf(reason)}
	switch {
	case r == "":
		c.Class = CauseError
	case strings.Contains(r, "cancel"):
		c.Class = CauseCancelled
	case strings.Contains(r, "analysis") || strings.Contains(r, "judged") || strings.Contains(r, "worse than"):
		c.Class = diagnose.Analysis
	case strings.Contains(r, "health check"):
		c.Class = diagnose.HealthCheck
	case strings.Contains(r, "pod template was changed") || strings.Contains(r, "another writer"):
		c.Class = diagnose.TemplateChanged
	case strings.Contains(r, "api server"):
		c.Class = diagnose.APIUnavailable
	case strings.Contains(r, "forbidden") || strings.Contains(r, "may not"):
		c.Class = CauseForbidden
	case strings.Contains(r, "lock"):
		c.Class = CauseLocked
	case strings.Contains(r, "timed out") || strings.Contains(r, "deadline"):
		c.Class = diagnose.Timeout
	case strings.Contains(r, "nothing was changed"):
		c.Class = CauseRefused
	default:
		c.Class = CauseError
	}
	return c
}

// withCause is a summary title that says the cause: "… failed and was
// rolled back — missing-env: env ERLMCP_SECRET_KEY (`evidence`)".
func withCause(title string, c diagnose.Cause) string {
	if c.Class == "" {
		return title
	}
	title += " — " + c.Class
	if c.Object != "" {
		title += ": " + firstLineOf(c.Object)
	}
	if c.Evidence != "" {
		ev := c.Evidence
		if len(ev) > maxHeadlineEvidence {
			cut := maxHeadlineEvidence
			for cut > 0 && ev[cut]&0xC0 == 0x80 {
				cut--
			}
			ev = ev[:cut] + "…"
		}
		title += " (" + summary.InlineCode(ev) + ")"
	}
	return title
}

// causeRows are the cause's rows of a summary's key facts.
func causeRows(c diagnose.Cause) [][2]string {
	if c.Class == "" {
		return nil
	}
	rows := [][2]string{{"Cause", c.Sentence()}}
	if c.Evidence != "" {
		ev := summary.InlineCode(c.Evidence)
		if c.Source != "" {
			ev = c.Source + ": " + ev
		}
		rows = append(rows, [2]string{"Evidence", ev})
	}
	return rows
}

func firstLineOf(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
