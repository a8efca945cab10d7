// Package report renders what a deploy or a rollback did as the step's
// outputs and its job summary, in one place: pure functions over the
// engines' results, tested on golden files (testdata/*.md; go test -update).
package report

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	engine "github.com/org/erlmcp-deploy/internal/deploy"
	"github.com/org/erlmcp-deploy/internal/diagnose"
	"github.com/org/erlmcp-deploy/internal/summary"
	"github.com/org/erlmcp-deploy/internal/timeline"
	"github.com/org/erlmcp-deploy/internal/verify"
)

// Rendered is what an action reports: the step outputs, in order, and the job summary.
type Rendered struct {
	Outputs [][2]string
	Summary *summary.Summary
}

// Deploy turns a deploy's result into its outputs and job summary: a pure
// function, tested on golden files.
func Deploy(opts engine.Options, res *engine.Result, tl timeline.Timeline) Rendered {
	cause := DeployCause(res)
	outputs := [][2]string{
		{"status", string(res.Status)},
		{"revision", Revision(res.Revision)},
		{"previous-revision", Revision(res.PreviousRevision)},
		{"image", res.Image},
		{"digest", res.Digest},
		{"rolled-back", strconv.FormatBool(res.RolledBack)},
		{"failure-reason", res.FailureReason},
		{"failure-cause", cause.Class},
		{"duration-seconds", strconv.FormatFloat(res.Duration.Seconds(), 'f', 1, 64)},
		{"backup", res.BackupPath},
	}
	s := summary.New()
	title := map[engine.Status]string{
		engine.StatusSucceeded:  "✅ Deployed to " + opts.Environment,
		engine.StatusRolledBack: "↩️ Deploy to " + opts.Environment + " failed and was rolled back",
		engine.StatusFailed:     "❌ Deploy to " + opts.Environment + " failed",
	}[res.Status]
	switch {
	case res.DryRun:
		title = "🧪 Dry run of a deploy to " + opts.Environment + " (nothing changed)"
	case res.Conclusion == verify.Unknown:
		title = "❔ Deploy to " + opts.Environment + ": state unknown (the API server failed), not rolled back"
	case res.Conclusion == verify.Foreign:
		title = "⚠️ Deploy to " + opts.Environment + " overtaken by another writer, not rolled back"
	}
	s.Heading(2, withCause(title, cause))
	image := summary.InlineCode(res.Image)
	if res.Digest != "" && !strings.Contains(res.Image, res.Digest) {
		image += " → " + summary.InlineCode(res.Digest)
	}
	rows := [][2]string{
		{"Deployment", summary.InlineCode(opts.Namespace + "/" + opts.Deployment)},
		{"Image", image},
		{"Previous image", summary.InlineCode(strings.Join(res.PreviousImages, ", "))},
		{"Revision", fmt.Sprintf("%s → %s", Revision(res.PreviousRevision), Revision(res.Revision))},
		{"Duration", res.Duration.Round(100 * time.Millisecond).String()},
		{"Verdict", string(res.Status)},
	}
	rows = append(rows, causeRows(cause)...)
	if res.FailureReason != "" {
		rows = append(rows, [2]string{"Failure", res.FailureReason})
	}
	if res.RolledBack {
		rows = append(rows, [2]string{"Rollback", fmt.Sprintf("revision %d's template (%s) is serving again as revision %s, verified (%s)",
			res.RollbackTo, summary.InlineCode(strings.Join(res.RollbackImages, ", ")), Revision(res.Revision), res.RollbackDuration.Round(100*time.Millisecond))})
	}
	if res.RollbackError != "" {
		rows = append(rows, [2]string{"Rollback failed", res.RollbackError})
	}
	if res.Advice != "" {
		rows = append(rows, [2]string{"Next step", res.Advice})
	}
	if res.BackupPath != "" {
		rows = append(rows, [2]string{"Backup", summary.InlineCode(res.BackupPath)})
	}
	s.KeyValues(rows)
	timelineSection(s, tl)
	if res.Diagnostics != nil {
		s.Heading(3, "Diagnostics")
		res.Diagnostics.Markdown(s)
	}
	if res.RollbackDiagnostics != nil {
		s.Heading(3, "Diagnostics of the rollback")
		res.RollbackDiagnostics.Markdown(s)
	}
	return Rendered{Outputs: outputs, Summary: s}
}

// DeployCause is the cause of a deploy's failure (zero when it did not fail).
func DeployCause(res *engine.Result) diagnose.Cause {
	failed := res.Status != engine.StatusSucceeded && !res.DryRun && res.Status != engine.StatusPaused
	if failed && res.CauseClass != "" && (res.Diagnostics == nil || res.Diagnostics.Cause.Class == "") {
		return diagnose.Cause{Class: res.CauseClass, Detail: firstLineOf(res.FailureReason)}
	}
	return FailureCause(failed, res.Verdict, res.Diagnostics, res.FailureReason)
}

// Revision renders a revision number ("" for none).
func Revision(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}
