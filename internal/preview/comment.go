package preview

import (
	"fmt"
	"strings"
	"time"
)

// Marker starts the preview's pull-request comment: the comment is found
// again by it (never by its author alone) and edited in place on every push.
const Marker = "<!-- erlmcp-deploy preview -->"

// Status is what the comment says of the preview.
type Status string

// Statuses of a preview comment.
const (
	// StatusUp: the push is serving at the URL.
	StatusUp Status = "up"
	// StatusFailed: the push failed; the previous version serves when there was one.
	StatusFailed Status = "failed"
	// StatusDown: the preview is gone (pull request closed, or reaped).
	StatusDown Status = "down"
	// StatusRefused: no preview for this pull request (a fork, max-previews).
	StatusRefused Status = "refused"
)

// State is what the comment shows.
type State struct {
	Status Status
	// Number is the pull request's number.
	Number int
	// URL is where the preview answers (empty when there is none).
	URL string
	// Namespace is the preview's namespace.
	Namespace string
	// Images are the images deployed (or tried, on a failure).
	Images []string
	// SHA is the commit of the push.
	SHA string
	// ServingSHA is the commit that still serves after a failed push (empty: none).
	ServingSHA string
	// Cause is the failure cause's sentence and Evidence the lines that show it, on a failed push.
	Cause, Evidence string
	// Reason says why the preview was refused or removed.
	Reason string
	// RunURL is the workflow run's URL.
	RunURL string
	// Updated is when the comment was written.
	Updated time.Time
}

// CommentBody renders the pull-request comment of s (markdown, starting with Marker).
func CommentBody(s State) string {
	var b strings.Builder
	b.WriteString(Marker + "\n")
	switch s.Status {
	case StatusUp:
		b.WriteString("### 🟢 Preview is up\n\n")
		if s.URL != "" {
			fmt.Fprintf(&b, "**%s**\n\n", s.URL)
		}
	case StatusFailed:
		b.WriteString("### 🔴 The last push failed to deploy\n\n")
		if s.Cause != "" {
			fmt.Fprintf(&b, "**Cause:** %s\n\n", oneLine(s.Cause))
		}
		if strings.TrimSpace(s.Evidence) != "" {
			fence := fenceFor(s.Evidence)
			fmt.Fprintf(&b, "%stext\n%s\n%s\n\n", fence, strings.TrimRight(s.Evidence, "\n"), fence)
		}
		if s.ServingSHA != "" {
			fmt.Fprintf(&b, "The preview still serves the previous push, %s", code(short(s.ServingSHA)))
			if s.URL != "" {
				fmt.Fprintf(&b, ", at %s", s.URL)
			}
			b.WriteString(".\n\n")
		} else {
			b.WriteString("There is no earlier version to serve: the preview is not running.\n\n")
		}
	case StatusDown:
		b.WriteString("### ⚪ Preview removed\n\n")
		if s.Reason != "" {
			fmt.Fprintf(&b, "%s.\n\n", sentence(s.Reason))
		}
	case StatusRefused:
		b.WriteString("### ⛔ No preview for this pull request\n\n")
		if s.Reason != "" {
			fmt.Fprintf(&b, "%s.\n\n", sentence(s.Reason))
		}
	default:
		fmt.Fprintf(&b, "### Preview: %s\n\n", oneLine(string(s.Status)))
	}
	var rows [][2]string
	if s.URL != "" && (s.Status == StatusUp || s.Status == StatusFailed) {
		rows = append(rows, [2]string{"URL", s.URL})
	}
	label := "Image"
	if len(s.Images) > 1 {
		label = "Images"
	}
	if len(s.Images) > 0 && s.Status != StatusRefused {
		var codes []string
		for _, im := range s.Images {
			codes = append(codes, code(im))
		}
		rows = append(rows, [2]string{label, strings.Join(codes, "<br>")})
	}
	if s.SHA != "" {
		rows = append(rows, [2]string{"Commit", code(short(s.SHA))})
	}
	if s.Namespace != "" && s.Status != StatusRefused {
		rows = append(rows, [2]string{"Namespace", code(s.Namespace)})
	}
	if len(rows) > 0 {
		b.WriteString("| | |\n|---|---|\n")
		for _, r := range rows {
			fmt.Fprintf(&b, "| %s | %s |\n", r[0], cell(r[1]))
		}
		b.WriteString("\n")
	}
	var foot []string
	if !s.Updated.IsZero() {
		foot = append(foot, "Updated "+s.Updated.UTC().Format("2006-01-02 15:04 UTC"))
	}
	if s.RunURL != "" {
		foot = append(foot, fmt.Sprintf("[workflow run](%s)", s.RunURL))
	}
	foot = append(foot, "erlmcp-deploy preview")
	fmt.Fprintf(&b, "<sub>%s</sub>\n", strings.Join(foot, " · "))
	return b.String()
}

// short is a commit's first 7 characters.
func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// code writes s as inline code, fenced so a backquote in it cannot end it.
func code(s string) string {
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}

// fenceFor is a code-block fence longer than any run of backquotes in s.
func fenceFor(s string) string {
	fence := "```"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	return fence
}

// cell escapes a table cell: no line breaks, no bare pipes.
func cell(s string) string {
	return strings.ReplaceAll(oneLine(s), "|", `\|`)
}

// sentence is s on one line, capitalised, without its final period.
func sentence(s string) string {
	s = strings.TrimSuffix(oneLine(s), ".")
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		s = string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

// oneLine joins the lines of s with spaces.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
