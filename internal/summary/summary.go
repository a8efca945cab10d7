// Package summary builds GitHub-flavoured markdown for job summaries.
//
// It is pure: engines and adapters build a Summary and the adapter decides
// where it goes (GITHUB_STEP_SUMMARY in Actions, nowhere on a laptop).
package summary

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxBytes is the most markdown Join returns. GitHub refuses a step summary
// over 1 MiB (the whole step's, not ours alone); this stays well under it.
const MaxBytes = 512 << 10

// Summary accumulates markdown blocks.
type Summary struct {
	b      strings.Builder
	blocks []int // end offset of each block in b
}

// New returns an empty summary.
func New() *Summary { return &Summary{} }

// Heading adds a heading of the given level (1-6).
func (s *Summary) Heading(level int, text string) *Summary {
	level = max(1, min(level, 6))
	fmt.Fprintf(&s.b, "%s %s\n\n", strings.Repeat("#", level), oneLine(text))
	return s.end()
}

// Para adds a paragraph of markdown (not escaped: callers own its syntax).
func (s *Summary) Para(markdown string) *Summary {
	fmt.Fprintf(&s.b, "%s\n\n", strings.TrimRight(markdown, "\n"))
	return s.end()
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
	return s.end()
}

// Code adds a fenced code block; the fence is longer than any backtick run inside.
func (s *Summary) Code(lang, text string) *Summary {
	fence := "```"
	for strings.Contains(text, fence) {
		fence += "`"
	}
	fmt.Fprintf(&s.b, "%s%s\n%s\n%s\n\n", fence, lang, strings.TrimRight(text, "\n"), fence)
	return s.end()
}

// Details adds a collapsed <details> section whose body is markdown.
func (s *Summary) Details(title string, body string) *Summary {
	fmt.Fprintf(&s.b, "<details><summary>%s</summary>\n\n%s\n\n</details>\n\n", htmlEscape(title), strings.TrimRight(body, "\n"))
	return s.end()
}

// String returns the markdown.
func (s *Summary) String() string { return s.b.String() }

// Blocks returns the markdown block by block (a heading, a table, a code
// block, a details section ...), so a writer can cut between blocks.
func (s *Summary) Blocks() []string {
	all := s.b.String()
	var out []string
	start := 0
	for _, end := range s.blocks {
		if end > start {
			out = append(out, all[start:end])
		}
		start = end
	}
	if start < len(all) {
		out = append(out, all[start:])
	}
	return out
}

// Join concatenates blocks, keeping the result under max bytes: whole blocks
// while they fit, then as much of the next one as fits (cut at a line, with
// its code fence and <details> closed), then a note saying what was left out.
func Join(blocks []string, max int) string {
	total := 0
	for _, b := range blocks {
		total += len(b)
	}
	if total <= max {
		return strings.Join(blocks, "")
	}
	const reserve = 512 // for the closing lines and the note
	var out strings.Builder
	budget := max - reserve
	kept := 0
	for _, b := range blocks {
		if out.Len()+len(b) > budget {
			break
		}
		out.WriteString(b)
		kept++
	}
	if kept < len(blocks) {
		if part := truncateBlock(blocks[kept], budget-out.Len()); part != "" {
			out.WriteString(part)
		}
	}
	fmt.Fprintf(&out, "> ⚠️ **This summary was cut** at %d KiB of %d KiB (GitHub refuses a step summary over 1 MiB); "+
		"the job log has the rest.\n\n", out.Len()>>10, total>>10)
	return out.String()
}

// truncateBlock cuts block to at most n bytes at a line end (or inside a line
// when that keeps more than half as much again, e.g. a table row holding a
// huge cell) and closes what the cut left open: a code fence, a <details>
// section. It returns "" when too little fits.
func truncateBlock(block string, n int) string {
	if n < 256 {
		return ""
	}
	n -= 64 // room for the closing lines
	cut := block[:n]
	if i := strings.LastIndexByte(cut, '\n'); i >= n/2 {
		cut = cut[:i+1]
	} else {
		for len(cut) > 0 && !utf8.ValidString(cut) {
			cut = cut[:len(cut)-1]
		}
		cut += " …\n"
	}
	var b strings.Builder
	b.WriteString(cut)
	fence := ""
	for _, line := range strings.Split(cut, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case fence == "" && strings.HasPrefix(t, "```"):
			fence = t[:len(t)-len(strings.TrimLeft(t, "`"))]
		case fence != "" && t == fence:
			fence = ""
		}
	}
	if fence != "" {
		b.WriteString("…\n" + fence + "\n")
	}
	if open := strings.Count(cut, "<details>") - strings.Count(cut, "</details>"); open > 0 {
		b.WriteString("\n" + strings.Repeat("</details>\n", open))
	}
	b.WriteString("\n")
	return b.String()
}

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

// end marks the end of a block.
func (s *Summary) end() *Summary {
	s.blocks = append(s.blocks, s.b.Len())
	return s
}
