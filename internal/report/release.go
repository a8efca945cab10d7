package report

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/org/erlmcp-deploy/internal/apply"
	"github.com/org/erlmcp-deploy/internal/diagnose"
	"github.com/org/erlmcp-deploy/internal/summary"
	"github.com/org/erlmcp-deploy/internal/timeline"
	"github.com/org/erlmcp-deploy/internal/verify"
)

// maxObjectRows bounds the summary's table of objects (the job summary has a 1 MiB limit).
const maxObjectRows = 200

// Release turns a manifest release deploy's result into its outputs and
// job summary: a pure function, tested on golden files.
func Release(opts apply.Options, res *apply.Result, tl timeline.Timeline) Rendered {
	objects, _ := json.Marshal(objectsJSON(res.Objects))
	serving := res.Revision
	if res.RolledBack {
		serving = res.RollbackRevision
	}
	cause := ReleaseCause(res)
	outputs := [][2]string{
		{"status", string(res.Status)},
		{"revision", Revision(int64(serving))},
		{"previous-revision", Revision(int64(res.PreviousRevision))},
		{"image", strings.Join(res.Images, ",")},
		{"digest", ""},
		{"rolled-back", strconv.FormatBool(res.RolledBack)},
		{"failure-reason", res.FailureReason},
		{"failure-cause", cause.Class},
		{"duration-seconds", strconv.FormatFloat(res.Duration.Seconds(), 'f', 1, 64)},
		{"backup", ""},
		{"release", opts.Release},
		{"objects", string(objects)},
	}
	s := summary.New()
	title := map[apply.Status]string{
		apply.StatusSucceeded:  "✅ Release " + opts.Release + " deployed to " + opts.Environment,
		apply.StatusRolledBack: "↩️ Release " + opts.Release + " failed in " + opts.Environment + " and the previous release was restored",
		apply.StatusFailed:     "❌ Release " + opts.Release + " failed in " + opts.Environment,
		apply.StatusAborted:    "⏹️ Canary of release " + opts.Release + " aborted in " + opts.Environment + ": nothing of it was applied",
		apply.StatusPaused:     "⏸️ Canary of release " + opts.Release + " in " + opts.Environment + " waits for a decision",
	}[res.Status]
	switch {
	case res.DryRun:
		title = "🧪 Dry run of release " + opts.Release + " in " + opts.Environment + " (nothing changed)"
	case res.Unchanged && res.Status == apply.StatusSucceeded:
		title = "✅ Release " + opts.Release + " unchanged in " + opts.Environment + ": revision " + Revision(int64(res.Revision)) + " serves, verified"
	case res.Unchanged && res.Status == apply.StatusFailed:
		title = "❌ Release " + opts.Release + " unchanged in " + opts.Environment + ", and revision " + Revision(int64(res.Revision)) + " did not verify"
	case res.Conclusion == verify.Unknown:
		title = "❔ Release " + opts.Release + " in " + opts.Environment + ": state unknown, not rolled back"
	case res.Conclusion == verify.Foreign:
		title = "⚠️ Release " + opts.Release + " in " + opts.Environment + " overtaken by another writer, not rolled back"
	}
	s.Heading(2, withCause(title, cause))
	rows := [][2]string{
		{"Namespace", summary.InlineCode(opts.Namespace)},
		{"Manifests", summary.InlineCode(strings.Join(opts.Manifests, ", "))},
		{"Images", summary.InlineCode(strings.Join(res.Images, ", "))},
		{"Revision", revisions(res)},
		{"Duration", res.Duration.Round(100 * time.Millisecond).String()},
		{"Verdict", string(res.Status)},
	}
	if res.TimeToVerdict > 0 {
		rows = append(rows, [2]string{"Time to verdict", res.TimeToVerdict.Round(100 * time.Millisecond).String()})
	}
	if res.Failed != "" {
		rows = append(rows, [2]string{"Failed object", summary.InlineCode(res.Failed)})
	}
	rows = append(rows, causeRows(cause)...)
	if res.FailureReason != "" {
		rows = append(rows, [2]string{"Failure", res.FailureReason})
	}
	if res.RolledBack {
		rows = append(rows, [2]string{"Rollback", fmt.Sprintf("revision %d is serving again as a whole (recorded as revision %d), verified (%s)",
			res.RollbackTo, res.RollbackRevision, res.RollbackDuration.Round(100*time.Millisecond))})
	}
	if res.RollbackError != "" {
		rows = append(rows, [2]string{"Rollback failed", res.RollbackError})
	}
	if res.Advice != "" {
		rows = append(rows, [2]string{"Next step", res.Advice})
	}
	s.KeyValues(rows)
	timelineSection(s, tl)
	if len(res.Objects) > 0 {
		s.Heading(3, "Objects")
		var table [][]string
		for i, o := range res.Objects {
			if i == maxObjectRows {
				table = append(table, []string{fmt.Sprintf("… %d more", len(res.Objects)-maxObjectRows), "", "", ""})
				break
			}
			table = append(table, []string{summary.InlineCode(o.Name), o.Action, o.State, changesCell(o)})
		}
		s.Table([]string{"Object", "Action", "State", "Changes"}, table)
	}
	if res.Diagnostics != nil {
		s.Heading(3, "Diagnostics of "+res.Failed)
		res.Diagnostics.Markdown(s)
	}
	return Rendered{Outputs: outputs, Summary: s}
}

// revisions is the release's path: previous → new (→ the restore's record).
func revisions(res *apply.Result) string {
	if res.Unchanged && !res.DryRun {
		return fmt.Sprintf("%s (unchanged: no new revision)", Revision(int64(res.Revision)))
	}
	s := fmt.Sprintf("%s → %s", Revision(int64(res.PreviousRevision)), Revision(int64(res.Revision)))
	if res.RolledBack {
		s += fmt.Sprintf(" (failed) → %d (revision %d restored)", res.RollbackRevision, res.RollbackTo)
	}
	return s
}

// changesCell lists a dry run's changed fields, each with from → to.
func changesCell(o apply.Object) string {
	var parts []string
	for i, c := range o.Changes {
		if i == 10 {
			parts = append(parts, fmt.Sprintf("… %d more", len(o.Changes)-10))
			break
		}
		parts = append(parts, apply.DescribeChange(c))
	}
	return strings.Join(parts, "; ")
}

type objectJSON struct {
	Name   string `json:"name"`
	Action string `json:"action"`
	State  string `json:"state,omitempty"`
}

func objectsJSON(objs []apply.Object) []objectJSON {
	out := make([]objectJSON, 0, len(objs))
	for _, o := range objs {
		out = append(out, objectJSON{Name: o.Name, Action: o.Action, State: o.State})
	}
	return out
}

// ReleaseCause is the cause of a release's failure (zero when it did not fail).
func ReleaseCause(res *apply.Result) diagnose.Cause {
	return FailureCause(res.Status != apply.StatusSucceeded && !res.DryRun && res.Status != apply.StatusPaused, res.Verdict, res.Diagnostics, res.FailureReason)
}
