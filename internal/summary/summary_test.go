package summary_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/summary"
)

func TestMarkdownBlocks(t *testing.T) {
	s := summary.New().
		Heading(9, "Deploy  to\nproduction").
		KeyValues([][2]string{{"image", "ghcr.io/acme/erlmcp:1.2.0"}}).
		Table([]string{"pod", "reason"}, [][]string{{"erlmcp-1", "CrashLoopBackOff | exit 1\nrestarting"}}).
		Code("text", "has ``` inside").
		Details("Logs <erlmcp-1>", "line")
	assert.Equal(t, "###### Deploy to production\n\n"+
		"|  |  |\n| --- | --- |\n| **image** | ghcr.io/acme/erlmcp:1.2.0 |\n\n"+
		"| pod | reason |\n| --- | --- |\n| erlmcp-1 | CrashLoopBackOff \\| exit 1<br>restarting |\n\n"+
		"````text\nhas ``` inside\n````\n\n"+
		"<details><summary>Logs &lt;erlmcp-1&gt;</summary>\n\nline\n\n</details>\n\n", s.String())
	assert.Equal(t, len(s.String()), s.Len())
}

func TestInlineCode(t *testing.T) {
	for in, want := range map[string]string{"": "", "v1": "`v1`", "a`b": "``a`b``", "`x": "`` `x ``"} {
		assert.Equal(t, want, summary.InlineCode(in), in)
	}
}

func TestBlocksAreTheMarkdown(t *testing.T) {
	s := summary.New().Heading(2, "h").Para("p").Table([]string{"a"}, [][]string{{"1"}}).Code("", "c").Details("d", "body")
	blocks := s.Blocks()
	assert.Len(t, blocks, 5)
	assert.Equal(t, s.String(), strings.Join(blocks, ""))
	assert.Empty(t, summary.New().Blocks())
}

func TestJoinKeepsTheSummaryUnderItsCap(t *testing.T) {
	const limit = 64 << 10
	huge := strings.Repeat("x", 3<<20)
	logs := strings.Repeat("crash report line\n", 2000) // ~36 KiB per block
	tests := []struct {
		name    string
		build   func(*summary.Summary)
		cut     bool
		keeps   []string
		trailer string // the cut block ends like this, before the note
	}{
		{
			name:  "small summary is untouched",
			build: func(s *summary.Summary) { s.Heading(2, "Deployed").Para("all good") },
			keeps: []string{"## Deployed\n\n", "all good"},
		},
		{
			name: "a 3 MiB table cell",
			build: func(s *summary.Summary) {
				s.Heading(2, "❌ Rolled back").KeyValues([][2]string{{"Reason", huge}}).Para("never reached")
			},
			cut:     true,
			keeps:   []string{"## ❌ Rolled back\n\n", "| **Reason** | xxx"},
			trailer: "xxx …\n\n",
		},
		{
			name: "cut inside a fenced log in a details section",
			build: func(s *summary.Summary) {
				s.Heading(2, "Diagnostics")
				for i := 0; i < 4; i++ {
					s.Details(fmt.Sprintf("Logs of pod-%d", i), "```text\n"+logs+"```")
				}
			},
			cut:     true,
			keeps:   []string{"## Diagnostics\n\n", "<summary>Logs of pod-0</summary>"},
			trailer: "crash report line\n…\n```\n\n</details>\n\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := summary.New()
			tc.build(s)
			got := summary.Join(s.Blocks(), limit)
			assert.LessOrEqual(t, len(got), limit)
			for _, k := range tc.keeps {
				assert.Contains(t, got, k)
			}
			if !tc.cut {
				assert.Equal(t, s.String(), got)
				return
			}
			body, note, ok := strings.Cut(got, "> ⚠️ **This summary was cut** at ")
			require.True(t, ok, "a note says the summary was cut")
			assert.Contains(t, note, "(GitHub refuses a step summary over 1 MiB); the job log has the rest.")
			assert.True(t, strings.HasSuffix(body, tc.trailer), "cut block ends %q", body[max(0, len(body)-80):])
			assert.Equal(t, strings.Count(body, "<details>"), strings.Count(body, "</details>"), "every <details> is closed")
			fences := 0
			for _, l := range strings.Split(body, "\n") {
				if strings.HasPrefix(l, "```") {
					fences++
				}
			}
			assert.Zero(t, fences%2, "every code fence is closed")
			assert.True(t, utf8.ValidString(got))
		})
	}
}
