// Package summary builds GitHub-flavoured markdown for job summaries.
//
// It is pure: engines and adapters build a Summary and the adapter decides
// where it goes (GITHUB_STEP_SUMMARY in Actions, nowhere on a laptop).
package summary

import (
	"fmt"
	"strings"
)

// Summary accumulates markdown blocks.
type Summary struct {
	b strings.Builder
}

// New returns an empty summary.
func New() *Summary { return &Summary{} }

// Heading adds a heading of the given level (1-6).
func (s *Summary) Heading(level int, text string) *Summary {
	level = max(1, min(level, 6))
	fmt.Fprintf(&s.b, "%s %s\n\n", strings.Repeat("#", level), oneLine(text))
	return s
}

// Para adds a paragraph of markdown (not escaped: callers own its syntax).
func (s *Summary) Para(markdown string) *Summary {
	fmt.Fprintf(&s.b, "%s\n\n", strings.TrimRight(markdown, "\n"))
	return s
}

// KeyValues adds a two-column table of labels and values.
func (s *Summary) KeyValues(rows [][2]string) *Summary {
	t := make([][]string, len(rows))
	for i, r := range rows {
		t[i] = []string{"**" + Cell(r[0]) + "**", Cell(r[1])}
	}
	return s.rawTable([]string{"", ""}, t)
}

// Table adds a table; header and cells are escaped so `|` and newlines cannot break it.
func (s *Summary) Table(header []string, rows [][]string) *Summary {
	h := make([]string, len(header))
	for i, c := range header {
		h[i] = Cell(c)
	}
	t := make([][]string, len(rows))
	for i, r := range rows {
		t[i] = make([]string, len(r))
		for j, c := range r {
			t[i][j] = Cell(c)
		}
	}
	return s.rawTable(h, t)
}

func (s *Summary) rawTable(header []string, rows [][]string) *Summary {
	fmt.Fprintf(&s.b, "| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat(" --- |", len(header)))
	for _, r := range rows {
		fmt.Fprintf(&s.b, "| %s |\n", strings.Join(r, " | "))
	}
	s.b.WriteString("\n")
	return s
}

// Code adds a fenced code block; the fence is longer than any backtick run inside.
func (s *Summary) Code(lang, text string) *Summary {
	fence := "```"
	for strings.Contains(text, fence) {
		fence += "`"
	}
	fmt.Fprintf(&s.b, "%s%s\n%s\n%s\n\n", fence, lang, strings.TrimRight(text, "\n"), fence)
	return s
}

// Details adds a collapsed <details> section whose body is markdown.
func (s *Summary) Details(title string, body string) *Summary {
	fmt.Fprintf(&s.b, "<details><summary>%s</summary>\n\n%s\n\n</details>\n\n", htmlEscape(title), strings.TrimRight(body, "\n"))
	return s
}

// String returns the markdown.
func (s *Summary) String() string { return s.b.String() }

// Len is the size of the markdown in bytes.
func (s *Summary) Len() int { return s.b.Len() }

// Cell escapes text for a table cell: pipes, newlines and leading/trailing space.
func Cell(text string) string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "|", `\|`)
	text = strings.ReplaceAll(text, "\n", "<br>")
	return strings.TrimSpace(text)
}

// InlineCode formats text as inline code that survives backticks inside it.
func InlineCode(text string) string {
	if text == "" {
		return ""
	}
	fence := "`"
	for strings.Contains(text, fence) {
		fence += "`"
	}
	pad := ""
	if strings.HasPrefix(text, "`") || strings.HasSuffix(text, "`") {
		pad = " "
	}
	return fence + pad + text + pad + fence
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func htmlEscape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	return r.Replace(oneLine(s))
}
