package summary_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

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
