package report

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/org/erlmcp-deploy/internal/diagnose"
	"github.com/org/erlmcp-deploy/internal/history"
	"github.com/org/erlmcp-deploy/internal/inventory"
	engine "github.com/org/erlmcp-deploy/internal/rollback"
	"github.com/org/erlmcp-deploy/internal/summary"
	"github.com/org/erlmcp-deploy/internal/timeline"
)

// Rollback turns a rollback's (or a listing's) result into its outputs and
// job summary: a pure function, tested on golden files.
func Rollback(env, ns, name string, res *engine.Result, tl timeline.Timeline) Rendered {
	hist := res.History
	if hist == nil {
		hist = []history.Revision{}
	}
	b, err := json.Marshal(hist)
	if err != nil {
		b = []byte("[]") // a Revision always encodes
	}
	outputs := [][2]string{
		{"status", string(res.Status)},
		{"revision", Revision(res.Revision)},
		{"from-revision", Revision(res.FromRevision)},
		{"image", strings.Join(res.Images, ",")},
		{"failure-cause", ""},
		{"history", string(b)},
	}
	cause := RollbackCause(res)
	outputs[4][1] = cause.Class
	s := summary.New()
	switch res.Status {
	case engine.StatusListed:
		s.Heading(2, fmt.Sprintf("📜 Revisions of %s/%s (%s)", ns, name, env))
	case engine.StatusSucceeded:
		t := fmt.Sprintf("↩️ Rolled back %s/%s in %s", ns, name, env)
		if res.DryRun {
			t = fmt.Sprintf("🧪 Dry run of a rollback of %s/%s in %s (nothing changed)", ns, name, env)
		}
		s.Heading(2, t)
	case engine.StatusUnchanged:
		s.Heading(2, fmt.Sprintf("➖ Nothing to roll back in %s/%s (%s)", ns, name, env))
	default:
		s.Heading(2, withCause(fmt.Sprintf("❌ Rollback of %s/%s in %s failed", ns, name, env), cause))
	}
	if res.Status != engine.StatusListed && res.Target != nil {
		s.Table([]string{"", "revision", "images"}, [][]string{
			{"before", Revision(res.FromRevision), strings.Join(res.FromImages, ", ")},
			{"target", Revision(res.Target.Number), strings.Join(res.Target.Images, ", ")},
			{"after", Revision(res.Revision), strings.Join(res.Images, ", ")},
		})
		s.KeyValues(append([][2]string{{"Result", res.Message}, {"Duration", res.Duration.Round(100 * time.Millisecond).String()}}, causeRows(cause)...))
	}
	timelineSection(s, tl)
	if res.Diagnostics != nil {
		s.Heading(3, "Diagnostics")
		res.Diagnostics.Markdown(s)
	}
	if len(res.History) > 0 {
		s.Heading(3, "History")
		s.Table([]string{"revision", "images", "created", "change-cause", ""}, engine.Rows(res.History))
	}
	return Rendered{Outputs: outputs, Summary: s}
}

// releaseRevisionJSON is one revision in a release rollback's `history` output.
type releaseRevisionJSON struct {
	Revision       int       `json:"revision"`
	Status         string    `json:"status"`
	Images         []string  `json:"images"`
	Cause          string    `json:"cause"`
	Time           time.Time `json:"time"`
	Objects        int       `json:"objects"`
	RolledBackFrom int       `json:"rolledBackFrom,omitempty"`
	Reason         string    `json:"reason,omitempty"`
}

// ReleaseHistoryJSON is a release's history as the `history` output holds it.
func ReleaseHistoryJSON(revs []inventory.Release) string {
	out := make([]releaseRevisionJSON, 0, len(revs))
	for _, rv := range revs {
		images := rv.Images
		if images == nil {
			images = []string{}
		}
		out = append(out, releaseRevisionJSON{Revision: rv.Revision, Status: string(rv.Status), Images: images, Cause: rv.Cause,
			Time: rv.Time.UTC(), Objects: len(rv.Objects), RolledBackFrom: rv.RolledBackFrom, Reason: rv.Reason})
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "[]" // a revision always encodes
	}
	return string(b)
}

// RollbackRelease turns a release rollback's (or a listing's) result into
// the rollback action's outputs and job summary: a pure function, tested on
// golden files.
func RollbackRelease(env, ns string, res *engine.ReleaseResult, tl timeline.Timeline) Rendered {
	outputs := [][2]string{
		{"status", string(res.Status)},
		{"revision", Revision(int64(res.Revision))},
		{"from-revision", Revision(int64(res.FromRevision))},
		{"image", strings.Join(res.Images, ",")},
		{"failure-cause", ""},
		{"history", ReleaseHistoryJSON(res.History)},
	}
	cause := RollbackReleaseCause(res)
	outputs[4][1] = cause.Class
	name := ns + "/" + res.Release
	s := summary.New()
	switch res.Status {
	case engine.StatusListed:
		s.Heading(2, fmt.Sprintf("📜 Revisions of release %s (%s)", name, env))
	case engine.StatusSucceeded:
		t := fmt.Sprintf("↩️ Rolled back release %s in %s", name, env)
		if res.DryRun {
			t = fmt.Sprintf("🧪 Dry run of a rollback of release %s in %s (nothing changed)", name, env)
		}
		s.Heading(2, t)
	case engine.StatusUnchanged:
		s.Heading(2, fmt.Sprintf("➖ Nothing to roll back in release %s (%s)", name, env))
	default:
		s.Heading(2, withCause(fmt.Sprintf("❌ Rollback of release %s in %s failed", name, env), cause))
	}
	if res.Status != engine.StatusListed && res.Target != nil {
		s.Table([]string{"", "revision", "images"}, [][]string{
			{"before", Revision(int64(res.FromRevision)), strings.Join(res.FromImages, ", ")},
			{"target", Revision(int64(res.Target.Revision)), strings.Join(res.Target.Images, ", ")},
			{"after", Revision(int64(res.Revision)), strings.Join(res.Images, ", ")},
		})
		rows := [][2]string{{"Result", res.Message}, {"Duration", res.Duration.Round(100 * time.Millisecond).String()}}
		if res.Failed != "" {
			rows = append(rows, [2]string{"Failed object", summary.InlineCode(res.Failed)})
		}
		rows = append(rows, causeRows(cause)...)
		s.KeyValues(rows)
	}
	timelineSection(s, tl)
	if len(res.Objects) > 0 {
		s.Heading(3, "Objects")
		var table [][]string
		for i, o := range res.Objects {
			if i == maxObjectRows {
				table = append(table, []string{fmt.Sprintf("… %d more", len(res.Objects)-maxObjectRows), "", ""})
				break
			}
			table = append(table, []string{summary.InlineCode(o.Name), o.Action, o.State})
		}
		s.Table([]string{"Object", "Action", "State"}, table)
	}
	if res.Diagnostics != nil {
		s.Heading(3, "Diagnostics of "+res.Failed)
		res.Diagnostics.Markdown(s)
	}
	if len(res.History) > 0 {
		s.Heading(3, "History")
		s.Table([]string{"revision", "status", "images", "objects", "time", "cause", ""}, engine.ReleaseRows(res.History))
	}
	return Rendered{Outputs: outputs, Summary: s}
}

// RollbackCause is the cause of a rollback's failure (zero when it did not fail).
func RollbackCause(res *engine.Result) diagnose.Cause {
	return FailureCause(res.Status == engine.StatusFailed, res.Verdict, res.Diagnostics, res.Message)
}

// RollbackReleaseCause is the cause of a release rollback's failure (zero when it did not fail).
func RollbackReleaseCause(res *engine.ReleaseResult) diagnose.Cause {
	return FailureCause(res.Status == engine.StatusFailed, res.Verdict, res.Diagnostics, res.Message)
}
