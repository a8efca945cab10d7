package notify

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackutilsx"
)

// Slack's documented limits (https://api.slack.com/reference/block-kit/blocks).
const (
	maxHeaderText  = 150
	maxSectionText = 3000
	maxFieldText   = 2000
	maxFields      = 10
	maxContextText = 2000
	maxURL         = 3000
	maxFallback    = 3000
)

// Canonical statuses; other values are shown as given.
const (
	StatusSucceeded  = "succeeded"
	StatusFailed     = "failed"
	StatusRolledBack = "rolled-back"
	StatusRunning    = "running"
	StatusUnchanged  = "unchanged"
	StatusCancelled  = "cancelled"
	// StatusAborted: a canary (or blue-green) was stopped before promotion; stable was never touched.
	StatusAborted = "aborted"
	// StatusPaused: a canary waits for a person's decision.
	StatusPaused = "paused"
)

// Event is what happened in one stage of a deploy pipeline.
type Event struct {
	// Stage is the pipeline step, e.g. "deploy", "smoke", "rollback".
	Stage string
	// Environment is the target, e.g. "staging", "production".
	Environment string
	// Status is succeeded, failed, rolled-back, running, unchanged, cancelled or any other word.
	Status string
	// Image and Digest identify what was (or was to be) deployed.
	Image, Digest string
	// Revision and PreviousRevision are the rollout revisions after and before the stage.
	Revision, PreviousRevision string
	// Reason explains a failure; it may span lines and contain any character.
	Reason string
	// Cause names the failure in one sentence with the object to fix
	// ("missing-env: the release needs env X, which is not set"); Evidence
	// quotes the log line or event it was read from, with where.
	Cause, Evidence string
	// Details are extra key/values shown as fields.
	Details []Field
	// RunURL links to the workflow run.
	RunURL string
	// Actor, Repository and Commit say who changed what.
	Actor, Repository, Commit string
	// CommitMessage is the full commit message; it may span lines.
	CommitMessage string
	// Production marks a production environment: failures there ping Config.Mention.
	Production bool
}

// Field is one extra key/value of an Event.
type Field struct{ Name, Value string }

// message is a rendered Event: the fallback text, the top-level blocks and one coloured attachment.
type message struct {
	text        string
	blocks      []slack.Block
	attachments []slack.Attachment
}

type statusStyle struct{ label, emoji, color string }

// statusAliases maps each canonical status to the words that mean it.
var statusAliases = map[string][]string{
	StatusSucceeded:  {"succeeded", "success", "successful", "ok", "passed", "pass", "done", "deployed", "completed", "complete"},
	StatusFailed:     {"failed", "failure", "fail", "error", "errored"},
	StatusRolledBack: {"rolled-back", "rolledback", "rollback", "reverted"},
	StatusRunning:    {"running", "in-progress", "started", "pending", "queued", "progressing", "deploying"},
	StatusUnchanged:  {"unchanged", "skipped", "noop", "no-op", "up-to-date"},
	StatusCancelled:  {"cancelled", "canceled"},
	StatusAborted:    {"aborted", "abort"},
	StatusPaused:     {"paused", "waiting"},
}

var statusStyles = map[string]statusStyle{
	StatusSucceeded:  {StatusSucceeded, ":white_check_mark:", "#2eb67d"},
	StatusFailed:     {StatusFailed, ":x:", "#e01e5a"},
	StatusRolledBack: {StatusRolledBack, ":rewind:", "#ecb22e"},
	StatusRunning:    {StatusRunning, ":hourglass_flowing_sand:", "#36c5f0"},
	StatusUnchanged:  {StatusUnchanged, ":white_circle:", "#9e9e9e"},
	StatusCancelled:  {StatusCancelled, ":no_entry_sign:", "#9e9e9e"},
	StatusAborted:    {StatusAborted, ":octagonal_sign:", "#ecb22e"},
	StatusPaused:     {StatusPaused, ":double_vertical_bar:", "#36c5f0"},
}

// styleFor returns the canonical status (or the trimmed input) with its emoji and colour.
func styleFor(status string) statusStyle {
	raw := strings.TrimSpace(status)
	key := strings.NewReplacer("_", "-", " ", "-").Replace(strings.ToLower(raw))
	for canon, aliases := range statusAliases {
		if slices.Contains(aliases, key) {
			return statusStyles[canon]
		}
	}
	if raw == "" {
		raw = "unknown"
	}
	return statusStyle{raw, ":grey_question:", "#9e9e9e"}
}

// alerts says whether an event should ping Config.Mention.
func alerts(ev Event) bool {
	s := styleFor(ev.Status).label
	return ev.Production && (s == StatusFailed || s == StatusRolledBack || s == StatusAborted || s == StatusPaused)
}

// buildMessage renders ev as Block Kit; mention is Config.Mention.
func buildMessage(ev Event, mention string) message {
	st := styleFor(ev.Status)
	stage := orDefault(strings.TrimSpace(ev.Stage), "erlmcp")
	env := strings.TrimSpace(ev.Environment)

	title := stage + " " + st.label
	if env != "" {
		title += " · " + env
	}
	var top []slack.Block
	// Header text is plain_text: Slack shows it verbatim, so it is not escaped.
	top = append(top, slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType,
		truncate(oneLine(st.emoji+" "+title), maxHeaderText), true, false)))

	ping := ""
	if alerts(ev) {
		ping = renderMention(mention)
	}
	if ping != "" {
		top = append(top, slack.NewSectionBlock(mrkdwn(truncate(
			ping+" "+escape(oneLine(title)), maxSectionText)), nil, nil))
	}

	var body []slack.Block
	if c := oneLine(ev.Cause); c != "" {
		text := "*Cause* " + escape(c)
		if e := oneLine(ev.Evidence); e != "" {
			text += "\n>" + escape(e)
		}
		body = append(body, slack.NewSectionBlock(mrkdwn(truncate(text, maxSectionText)), nil, nil))
	}
	for _, fields := range chunk(eventFields(ev, st), maxFields) {
		body = append(body, slack.NewSectionBlock(nil, fields, nil))
	}
	if r := strings.TrimRight(ev.Reason, " \t\r\n"); strings.TrimSpace(r) != "" {
		body = append(body, slack.NewSectionBlock(mrkdwn(labelled("Reason", r, true)), nil, nil))
	}
	if m := strings.TrimRight(ev.CommitMessage, " \t\r\n"); strings.TrimSpace(m) != "" {
		body = append(body, slack.NewSectionBlock(mrkdwn(labelled("Commit message", m, false)), nil, nil))
	}
	if ctx := contextLine(ev); ctx != "" {
		body = append(body, slack.NewContextBlock("", mrkdwn(truncate(ctx, maxContextText))))
	}
	if u := runURL(ev.RunURL); u != "" {
		btn := slack.NewButtonBlockElement("open-run", "", slack.NewTextBlockObject(slack.PlainTextType, "View run", false, false)).WithURL(u)
		body = append(body, slack.NewActionBlock("", btn))
	}

	text := st.emoji + " " + title
	if img := strings.TrimSpace(ev.Image); img != "" {
		text += ": " + img
	}
	switch c := oneLine(ev.Cause); {
	case c != "":
		text += " — " + c
		if e := oneLine(ev.Evidence); e != "" {
			text += " — " + e
		}
	case firstLine(ev.Reason) != "":
		text += " — " + firstLine(ev.Reason)
	}
	text = truncate(escape(oneLine(text)), maxFallback-utf8.RuneCountInString(ping)-1)
	if ping != "" {
		text = ping + " " + text
	}

	return message{
		text:   text,
		blocks: top,
		attachments: []slack.Attachment{{
			Color:    st.color,
			Fallback: text,
			Blocks:   slack.Blocks{BlockSet: body},
		}},
	}
}

// eventFields renders the key facts of ev as section fields.
func eventFields(ev Event, st statusStyle) []*slack.TextBlockObject {
	var out []*slack.TextBlockObject
	add := func(name, value string, code bool) {
		value = strings.TrimSpace(value)
		if value == "" {
			return
		}
		out = append(out, mrkdwn(field(name, value, code)))
	}
	add("Environment", ev.Environment, false)
	out = append(out, mrkdwn(st.emoji+" *Status*\n"+escape(truncate(st.label, maxFieldText/2))))
	add("Image", ev.Image, true)
	add("Digest", ev.Digest, true)
	rev := strings.TrimSpace(ev.Revision)
	if prev := strings.TrimSpace(ev.PreviousRevision); prev != "" {
		rev = prev + " → " + orDefault(rev, "?")
	}
	add("Revision", rev, false)
	for _, f := range ev.Details {
		if strings.TrimSpace(f.Name) == "" {
			continue
		}
		add(oneLine(f.Name), f.Value, false)
	}
	return out
}

// field renders "*name*\nvalue", escaped and within Slack's field limit.
func field(name, value string, code bool) string {
	head := "*" + escape(truncate(name, 100)) + "*\n"
	room := maxFieldText - utf8.RuneCountInString(head)
	if code && !strings.Contains(value, "`") && !strings.Contains(value, "\n") {
		return head + "`" + truncate(escape(value), room-2) + "`"
	}
	return head + truncate(escape(value), room)
}

// labelled renders a titled, escaped, possibly multi-line text within the section limit.
func labelled(name, value string, preformatted bool) string {
	head := "*" + name + "*\n"
	open, closing := "", ""
	if preformatted && !strings.Contains(value, "```") {
		open, closing = "```", "```"
	}
	room := maxSectionText - utf8.RuneCountInString(head+open+closing)
	return head + open + truncate(escape(value), room) + closing
}

// contextLine says who changed what: repository, short commit and actor.
func contextLine(ev Event) string {
	var parts []string
	if r := strings.TrimSpace(ev.Repository); r != "" {
		parts = append(parts, escape(oneLine(r)))
	}
	if c := strings.TrimSpace(ev.Commit); c != "" {
		if len(c) > 12 {
			c = c[:12]
		}
		parts = append(parts, "`"+escape(strings.ReplaceAll(oneLine(c), "`", "'"))+"`")
	}
	if a := strings.TrimSpace(ev.Actor); a != "" {
		parts = append(parts, "by "+escape(oneLine(a)))
	}
	return strings.Join(parts, " · ")
}

// renderMention keeps Slack mention tokens ("<!subteam^S1>", "<@U1>", "<!here>") and escapes anything else.
func renderMention(m string) string {
	var out []string
	for _, tok := range strings.Fields(m) {
		inner := strings.TrimSuffix(strings.TrimPrefix(tok, "<"), ">")
		if len(tok) > 2 && strings.HasPrefix(tok, "<") && strings.HasSuffix(tok, ">") &&
			(strings.HasPrefix(inner, "!") || strings.HasPrefix(inner, "@") || strings.HasPrefix(inner, "#")) &&
			!strings.ContainsAny(inner, "<>") {
			out = append(out, tok)
			continue
		}
		out = append(out, escape(tok))
	}
	return strings.Join(out, " ")
}

// runURL returns u if Slack will accept it as a button link, else "".
func runURL(u string) string {
	u = strings.TrimSpace(u)
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || len(u) > maxURL {
		return ""
	}
	return u
}

// escape escapes Slack's mrkdwn control characters &, < and >.
func escape(s string) string { return slackutilsx.EscapeMessage(s) }

// truncate cuts s to at most limit characters, ending with "…", without splitting an escape entity.
func truncate(s string, limit int) string {
	if limit <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	out := string([]rune(s)[:limit-1])
	if i := strings.LastIndexByte(out, '&'); i >= 0 && len(out)-i < len("&amp;") && !strings.Contains(out[i:], ";") {
		out = out[:i]
	}
	return out + "…"
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func chunk[T any](xs []T, n int) [][]T {
	var out [][]T
	for len(xs) > n {
		out = append(out, xs[:n])
		xs = xs[n:]
	}
	if len(xs) > 0 {
		out = append(out, xs)
	}
	return out
}

// String describes the event in one line, for logs.
func (ev Event) String() string {
	return fmt.Sprintf("%s %s %s", orDefault(ev.Stage, "erlmcp"), styleFor(ev.Status).label, ev.Environment)
}
