package report

import (
	"github.com/org/erlmcp-deploy/internal/summary"
	"github.com/org/erlmcp-deploy/internal/timeline"
)

// timelineSection adds the run's timeline under "### Timeline" (nothing when it is empty).
func timelineSection(s *summary.Summary, t timeline.Timeline) {
	if t.Empty() {
		return
	}
	s.Heading(3, "Timeline")
	timeline.Render(s, t)
}
