package report

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/org/erlmcp-deploy/internal/history"
	engine "github.com/org/erlmcp-deploy/internal/rollback"
	"github.com/org/erlmcp-deploy/internal/summary"
)

// Rollback turns a rollback's (or a listing's) result into its outputs and
// job summary: a pure function, tested on golden files.
func Rollback(env, ns, name string, res *engine.Result) Rendered {
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
		{"history", string(b)},
	}
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
		s.Heading(2, fmt.Sprintf("❌ Rollback of %s/%s in %s failed", ns, name, env))
	}
	if res.Status != engine.StatusListed && res.Target != nil {
		s.Table([]string{"", "revision", "images"}, [][]string{
			{"before", Revision(res.FromRevision), strings.Join(res.FromImages, ", ")},
			{"target", Revision(res.Target.Number), strings.Join(res.Target.Images, ", ")},
			{"after", Revision(res.Revision), strings.Join(res.Images, ", ")},
		})
		s.KeyValues([][2]string{{"Result", res.Message}, {"Duration", res.Duration.Round(100 * time.Millisecond).String()}})
	}
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
