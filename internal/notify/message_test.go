package notify

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStyleFor(t *testing.T) {
	tests := []struct {
		status, label, emoji, color string
	}{
		{"succeeded", StatusSucceeded, ":white_check_mark:", "#2eb67d"},
		{" Success ", StatusSucceeded, ":white_check_mark:", "#2eb67d"},
		{"failed", StatusFailed, ":x:", "#e01e5a"},
		{"FAILURE", StatusFailed, ":x:", "#e01e5a"},
		{"rolled-back", StatusRolledBack, ":rewind:", "#ecb22e"},
		{"rolled back", StatusRolledBack, ":rewind:", "#ecb22e"},
		{"running", StatusRunning, ":hourglass_flowing_sand:", "#36c5f0"},
		{"in_progress", StatusRunning, ":hourglass_flowing_sand:", "#36c5f0"},
		{"unchanged", StatusUnchanged, ":white_circle:", "#9e9e9e"},
		{"canceled", StatusCancelled, ":no_entry_sign:", "#9e9e9e"},
		{"aborted", StatusAborted, ":octagonal_sign:", "#ecb22e"},
		{"paused", StatusPaused, ":double_vertical_bar:", "#36c5f0"},
		{"deferred", "deferred", ":grey_question:", "#9e9e9e"},
		{"", "unknown", ":grey_question:", "#9e9e9e"},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			got := styleFor(tt.status)
			assert.Equal(t, statusStyle{tt.label, tt.emoji, tt.color}, got)
		})
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		limit int
		want  string
	}{
		{"short", "abc", 5, "abc"},
		{"exact", "abcde", 5, "abcde"},
		{"long", "abcdef", 5, "abcd…"},
		{"runes", "ééééé", 3, "éé…"},
		{"no half entity", "ab&amp;cd", 5, "ab…"},
		{"whole entity kept", "ab&amp;cd", 8, "ab&amp;…"},
		{"zero", "abc", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := truncate(tt.in, tt.limit)
			assert.Equal(t, tt.want, got)
			assert.LessOrEqual(t, utf8.RuneCountInString(got), max(tt.limit, 0))
		})
	}
}

func TestRenderMention(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<!subteam^S012345>", "<!subteam^S012345>"},
		{"<!subteam^S012345|@sre>", "<!subteam^S012345|@sre>"},
		{"<@U123> <!here>", "<@U123> <!here>"},
		{"@oncall", "@oncall"},
		{"<script>", "&lt;script&gt;"},
		{"<https://evil>", "&lt;https://evil&gt;"},
		{"a & b", "a &amp; b"},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, renderMention(tt.in))
		})
	}
}

func TestBuildMessage_StaysWithinSlackLimits(t *testing.T) {
	long := strings.Repeat("<&> \"x\" `y`\n", 1000)
	var details []Field
	for i := 0; i < 25; i++ {
		details = append(details, Field{Name: "k" + strings.Repeat("n", 300), Value: long})
	}
	ev := Event{
		Stage: strings.Repeat("stage ", 50), Environment: strings.Repeat("env ", 50), Status: "failed",
		Image: long, Digest: long, Reason: long, CommitMessage: long, Actor: long, Repository: long, Commit: long,
		Details: details, RunURL: "javascript:alert(1)", Production: true,
	}
	m := buildMessage(ev, "<!subteam^S1>")

	raw, err := json.Marshal(slack.Blocks{BlockSet: m.blocks})
	require.NoError(t, err)
	var back slack.Blocks
	require.NoError(t, json.Unmarshal(raw, &back), "blocks round-trip through slack-go")

	all := append(append([]slack.Block{}, m.blocks...), m.attachments[0].Blocks.BlockSet...)
	for _, b := range all {
		switch b := b.(type) {
		case *slack.HeaderBlock:
			assert.LessOrEqual(t, utf8.RuneCountInString(b.Text.Text), maxHeaderText)
			assert.True(t, strings.HasSuffix(b.Text.Text, "…"))
		case *slack.SectionBlock:
			if b.Text != nil {
				assert.LessOrEqual(t, utf8.RuneCountInString(b.Text.Text), maxSectionText)
			}
			assert.LessOrEqual(t, len(b.Fields), maxFields)
			for _, f := range b.Fields {
				assert.LessOrEqual(t, utf8.RuneCountInString(f.Text), maxFieldText)
			}
		case *slack.ContextBlock:
			for _, e := range b.ContextElements.Elements {
				assert.LessOrEqual(t, utf8.RuneCountInString(e.(*slack.TextBlockObject).Text), maxContextText)
			}
		case *slack.ActionBlock:
			t.Errorf("a javascript: run URL must not become a button")
		}
	}
	assert.LessOrEqual(t, utf8.RuneCountInString(m.text), maxFallback)
	assert.Less(t, len(all), 50, "Slack allows at most 50 blocks")
	assert.NotContains(t, m.text, "<&>")
}

func TestBuildMessage_MinimalEvent(t *testing.T) {
	m := buildMessage(Event{}, "")
	require.Len(t, m.blocks, 1)
	assert.Equal(t, ":grey_question: erlmcp unknown", m.blocks[0].(*slack.HeaderBlock).Text.Text)
	assert.Equal(t, ":grey_question: erlmcp unknown", m.text)
	require.Len(t, m.attachments, 1)
	assert.Equal(t, m.text, m.attachments[0].Fallback)
}

// TestCauseLeadsTheMessage: a failure's cause and evidence are the first
// block of the attachment and follow the status in the fallback text (the
// line a notification shows); without a cause the reason's first line does.
func TestCauseLeadsTheMessage(t *testing.T) {
	ev := Event{Stage: "deploy", Environment: "production", Status: StatusRolledBack, Image: "ghcr.io/acme/erlmcp:1.2.0",
		Reason:   "erlmcp-7d9-x/erlmcp: BootFailure: crashed 1 time(s) since the change …",
		Cause:    "missing-env: the release needs env ERLMCP_SECRET_KEY, which is not set",
		Evidence: "log of pod/erlmcp-7d9-x container erlmcp (crashed instance): ** (RuntimeError) environment variable ERLMCP_SECRET_KEY is missing."}
	m := buildMessage(ev, "")
	assert.Equal(t, ":rewind: deploy rolled-back · production: ghcr.io/acme/erlmcp:1.2.0 — missing-env: the release needs env ERLMCP_SECRET_KEY, which is not set — "+
		"log of pod/erlmcp-7d9-x container erlmcp (crashed instance): ** (RuntimeError) environment variable ERLMCP_SECRET_KEY is missing.", m.text)
	first, ok := m.attachments[0].Blocks.BlockSet[0].(*slack.SectionBlock)
	require.True(t, ok)
	assert.True(t, strings.HasPrefix(first.Text.Text, "*Cause* missing-env: the release needs env ERLMCP_SECRET_KEY"), first.Text.Text)
	assert.Contains(t, first.Text.Text, "\n>log of pod/erlmcp-7d9-x")

	ev.Cause, ev.Evidence = "", ""
	assert.True(t, strings.HasSuffix(buildMessage(ev, "").text, "— erlmcp-7d9-x/erlmcp: BootFailure: crashed 1 time(s) since the change …"))
}
