package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/notify/slackfake"
	"github.com/org/erlmcp-deploy/internal/ui"
)

const (
	testToken   = "xoxb-123456789-SECRET-token-do-not-log"
	testChannel = "C0123456789"
)

// sleeps records the waits a Notifier asked for, without waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return nil
}

func (s *sleeps) waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// newTest returns a Notifier that logs to buf and records its sleeps.
func newTest(cfg Config) (*Notifier, *bytes.Buffer, *sleeps) {
	var buf bytes.Buffer
	n := New(cfg, ui.NewText(&buf, true))
	s := &sleeps{}
	n.sleep = s.sleep
	return n, &buf, s
}

// texts decodes the blocks and attachments of a recorded form and returns every text in them.
func texts(t *testing.T, form url.Values) []string {
	t.Helper()
	var blocks slack.Blocks
	require.NoError(t, json.Unmarshal([]byte(form.Get("blocks")), &blocks), "blocks must decode")
	var atts []slack.Attachment
	if a := form.Get("attachments"); a != "" {
		require.NoError(t, json.Unmarshal([]byte(a), &atts), "attachments must decode")
	}
	all := blockTexts(blocks.BlockSet)
	for _, a := range atts {
		all = append(all, blockTexts(a.Blocks.BlockSet)...)
	}
	return all
}

func blockTexts(blocks []slack.Block) []string {
	var out []string
	add := func(o *slack.TextBlockObject) {
		if o != nil {
			out = append(out, o.Text)
		}
	}
	for _, b := range blocks {
		switch b := b.(type) {
		case *slack.HeaderBlock:
			add(b.Text)
		case *slack.SectionBlock:
			add(b.Text)
			for _, f := range b.Fields {
				add(f)
			}
		case *slack.ContextBlock:
			for _, e := range b.ContextElements.Elements {
				if o, ok := e.(*slack.TextBlockObject); ok {
					add(o)
				}
			}
		case *slack.ActionBlock:
			for _, e := range b.Elements.ElementSet {
				if btn, ok := e.(*slack.ButtonBlockElement); ok {
					add(btn.Text)
					out = append(out, btn.URL)
				}
			}
		}
	}
	return out
}

func unescape(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

func header(t *testing.T, form url.Values) string {
	t.Helper()
	var blocks slack.Blocks
	require.NoError(t, json.Unmarshal([]byte(form.Get("blocks")), &blocks))
	require.NotEmpty(t, blocks.BlockSet)
	h, ok := blocks.BlockSet[0].(*slack.HeaderBlock)
	require.True(t, ok, "first block is a header")
	return h.Text.Text
}

func TestNew_DisabledDoesNothing(t *testing.T) {
	tests := []struct {
		name string
		n    *Notifier
		warn bool
	}{
		{name: "nil notifier", n: nil},
		{name: "empty config", n: New(Config{}, nil)},
		{name: "blank values", n: New(Config{Token: "  ", Channel: " "}, nil)},
		{name: "token without channel", n: New(Config{Token: testToken}, ui.Discard{}), warn: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.False(t, tt.n.Enabled())
			ts, err := tt.n.Notify(context.Background(), Event{Stage: "deploy", Status: "failed"})
			require.NoError(t, err)
			assert.Empty(t, ts)
			assert.Empty(t, tt.n.NotifyBestEffort(context.Background(), Event{}))
		})
	}

	var buf bytes.Buffer
	New(Config{Token: testToken}, ui.NewText(&buf, true))
	assert.Contains(t, buf.String(), "without a channel")
	assert.NotContains(t, buf.String(), testToken)
}

func TestNotify_PostThenUpdateSameMessage(t *testing.T) {
	fake, api := slackfake.New(t, testToken)
	ctx := context.Background()

	first, _, _ := newTest(Config{Token: testToken, Channel: testChannel, APIURL: api})
	ts, err := first.Notify(ctx, Event{Stage: "deploy", Environment: "staging", Status: "running", Image: "ghcr.io/org/erlmcp:1.2.3"})
	require.NoError(t, err)
	require.NotEmpty(t, ts)
	assert.Contains(t, header(t, fake.Message(ts)), "running")

	// A later stage (another process) gets the ts as Config.Thread and updates that message.
	later, _, _ := newTest(Config{Token: testToken, Channel: testChannel, Thread: ts, APIURL: api})
	got, err := later.Notify(ctx, Event{Stage: "smoke", Environment: "staging", Status: "succeeded", Revision: "7", PreviousRevision: "6"})
	require.NoError(t, err)
	assert.Equal(t, ts, got)

	calls := fake.Calls()
	require.Len(t, calls, 2)
	assert.Equal(t, "chat.postMessage", calls[0].Method)
	assert.Equal(t, "chat.update", calls[1].Method)
	assert.Equal(t, ts, calls[1].Form.Get("ts"))
	assert.Equal(t, testChannel, calls[1].Form.Get("channel"))

	updated := fake.Message(ts)
	assert.Equal(t, ":white_check_mark: smoke succeeded · staging", header(t, updated))
	assert.Contains(t, updated.Get("text"), "smoke succeeded · staging")
	assert.Contains(t, texts(t, updated), "*Revision*\n6 → 7")
	assert.Contains(t, updated.Get("attachments"), `"color":"#2eb67d"`)
}

func TestNotify_UpdateOfMissingMessagePostsNew(t *testing.T) {
	fake, api := slackfake.New(t, testToken)
	n, logs, _ := newTest(Config{Token: testToken, Channel: testChannel, Thread: "1600000000.000001", APIURL: api})

	ts, err := n.Notify(context.Background(), Event{Stage: "deploy", Status: "failed"})
	require.NoError(t, err)
	assert.NotEmpty(t, ts)
	assert.NotEqual(t, "1600000000.000001", ts)

	calls := fake.Calls()
	require.Len(t, calls, 2)
	assert.Equal(t, []string{"chat.update", "chat.postMessage"}, []string{calls[0].Method, calls[1].Method})
	assert.Contains(t, logs.String(), "message_not_found")
}

func TestNotify_SpecialCharactersSurvive(t *testing.T) {
	reason := "readiness probe failed: \"connection refused\" on `:8080/health`\n" +
		"<script>alert('x')</script> & friends\nline 3 with 'single' quotes"
	commit := "Fix \"quoted\" handling in `erlmcp_server`\n\nBody line with <b>html</b> & ampersand\n- bullet 'one'\n"
	ev := Event{
		Stage: "deploy", Environment: "production", Status: "failed", Production: true,
		Image: "ghcr.io/org/erlmcp:1.2.3", Digest: "sha256:abc",
		Reason: reason, CommitMessage: commit, Commit: "0123456789abcdef0123",
		Actor: "o'brien", Repository: "org/erlmcp", RunURL: "https://github.com/org/erlmcp/actions/runs/1?a=1&b=2",
		Details: []Field{{Name: "Pods <ready>", Value: `2/3 "ok" & 1 crashloop`}},
	}

	t.Run("bot", func(t *testing.T) {
		fake, api := slackfake.New(t, testToken)
		n, _, _ := newTest(Config{Token: testToken, Channel: testChannel, APIURL: api})
		ts, err := n.Notify(context.Background(), ev)
		require.NoError(t, err)
		form := fake.Message(ts)
		require.NotNil(t, form)
		assertSurvives(t, texts(t, form), form.Get("text"), ev)
	})

	t.Run("webhook", func(t *testing.T) {
		var got slack.WebhookMessage
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			assert.NoError(t, json.NewDecoder(r.Body).Decode(&got))
		}))
		t.Cleanup(hook.Close)
		n, _, _ := newTest(Config{Webhook: hook.URL + "/services/T0/B0/secret"})
		_, err := n.Notify(context.Background(), ev)
		require.NoError(t, err)
		require.NotNil(t, got.Blocks)
		all := blockTexts(got.Blocks.BlockSet)
		for _, a := range got.Attachments {
			all = append(all, blockTexts(a.Blocks.BlockSet)...)
		}
		assertSurvives(t, all, got.Text, ev)
	})
}

func assertSurvives(t *testing.T, all []string, text string, ev Event) {
	t.Helper()
	joined := strings.Join(all, "\n")
	assert.NotContains(t, joined, "<script>", "control characters must be escaped")
	assert.Contains(t, joined, "&lt;script&gt;alert('x')&lt;/script&gt; &amp; friends")

	var reason, commit string
	for _, s := range all {
		if strings.HasPrefix(s, "*Reason*\n") {
			reason = s
		}
		if strings.HasPrefix(s, "*Commit message*\n") {
			commit = s
		}
	}
	assert.Equal(t, "*Reason*\n```"+ev.Reason+"```", unescape(reason))
	assert.Equal(t, "*Commit message*\n"+strings.TrimRight(ev.CommitMessage, "\n"), unescape(commit))
	assert.Contains(t, all, "*Pods &lt;ready&gt;*\n2/3 \"ok\" &amp; 1 crashloop")
	assert.Contains(t, all, "org/erlmcp · `0123456789ab` · by o'brien")
	assert.Contains(t, all, ev.RunURL, "the button links to the run")
	assert.Contains(t, unescape(text), `readiness probe failed: "connection refused" on `+"`:8080/health`")
	assert.NotContains(t, text, "\n", "the fallback text is one line")
}

func TestNotify_MentionOnlyForProductionFailures(t *testing.T) {
	tests := []struct {
		name       string
		mention    string
		production bool
		status     string
		want       string // "" = no mention anywhere
	}{
		{"production failed pings group", "<!subteam^S012345>", true, "failed", "<!subteam^S012345>"},
		{"production rolled back pings", "<!subteam^S012345>", true, "rolled-back", "<!subteam^S012345>"},
		{"status alias", "<@U123>", true, "Rolled_Back", "<@U123>"},
		{"plain text mention", "@oncall", true, "failure", "@oncall"},
		{"bogus markup is escaped", "<script>", true, "failed", "&lt;script&gt;"},
		{"production success is quiet", "<!subteam^S012345>", true, "succeeded", ""},
		{"production running is quiet", "<!subteam^S012345>", true, "running", ""},
		{"staging failure is quiet", "<!subteam^S012345>", false, "failed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, api := slackfake.New(t, testToken)
			n, _, _ := newTest(Config{Token: testToken, Channel: testChannel, APIURL: api, Mention: tt.mention})
			ts, err := n.Notify(context.Background(), Event{Stage: "deploy", Environment: "production", Status: tt.status, Production: tt.production})
			require.NoError(t, err)
			form := fake.Message(ts)
			all := strings.Join(texts(t, form), "\n")
			if tt.want == "" {
				assert.NotContains(t, all, strings.Trim(tt.mention, "<>"))
				assert.NotContains(t, form.Get("text"), strings.Trim(tt.mention, "<>"))
				return
			}
			assert.Contains(t, all, tt.want)
			assert.True(t, strings.HasPrefix(form.Get("text"), tt.want+" "), "text %q starts with the mention", form.Get("text"))
			if tt.want != tt.mention {
				assert.NotContains(t, all, tt.mention)
			}
		})
	}
}

func TestNotify_Webhook(t *testing.T) {
	var (
		mu   sync.Mutex
		got  []slack.WebhookMessage
		path string
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		var m slack.WebhookMessage
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		assert.NoError(t, json.NewDecoder(r.Body).Decode(&m))
		got = append(got, m)
		path = r.URL.Path
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(hook.Close)

	n, logs, _ := newTest(Config{Webhook: hook.URL + "/services/T000/B000/XXXX", Thread: "1700000000.000100"})
	ts, err := n.Notify(context.Background(), Event{Stage: "rollback", Environment: "production", Status: "rolled-back", Revision: "4", PreviousRevision: "5"})
	require.NoError(t, err)
	assert.Empty(t, ts, "webhooks return no ts")

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 1, "webhooks cannot update: always a new post")
	assert.Equal(t, "/services/T000/B000/XXXX", path)
	assert.Contains(t, got[0].Text, ":rewind: rollback rolled-back · production")
	require.NotNil(t, got[0].Blocks)
	require.IsType(t, &slack.HeaderBlock{}, got[0].Blocks.BlockSet[0])
	assert.Equal(t, ":rewind: rollback rolled-back · production", got[0].Blocks.BlockSet[0].(*slack.HeaderBlock).Text.Text)
	require.Len(t, got[0].Attachments, 1)
	assert.Equal(t, "#ecb22e", got[0].Attachments[0].Color)
	assert.NotContains(t, logs.String(), "XXXX")
}

// closedURL returns the URL of a port nobody listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "http://" + addr
}

func TestNotify_SlackDown(t *testing.T) {
	down := closedURL(t)
	tests := []struct {
		name    string
		cfg     Config
		secrets []string
	}{
		{name: "bot", cfg: Config{Token: testToken, Channel: testChannel, APIURL: down + "/api/"}, secrets: []string{testToken}},
		{name: "bot update", cfg: Config{Token: testToken, Channel: testChannel, Thread: "1700000000.000100", APIURL: down + "/api/"}, secrets: []string{testToken}},
		{name: "webhook", cfg: Config{Webhook: down + "/services/T0/B0/hook-secret"}, secrets: []string{"hook-secret", down + "/services"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, logs, sl := newTest(tt.cfg)
			start := time.Now()
			ts, err := n.Notify(context.Background(), Event{Stage: "deploy", Status: "failed", Production: true})
			assert.Less(t, time.Since(start), 15*time.Second)
			require.Error(t, err)
			assert.Empty(t, ts)
			assert.Contains(t, err.Error(), "connection refused")
			assert.Len(t, sl.waits(), defaultAttempts-1, "connection errors are retried")
			assert.Contains(t, logs.String(), "warning: slack: could not send")
			for _, s := range tt.secrets {
				assert.NotContains(t, logs.String(), s)
				assert.NotContains(t, err.Error(), s)
			}

			logs.Reset()
			assert.Empty(t, n.NotifyBestEffort(context.Background(), Event{Stage: "smoke", Status: "failed"}))
			assert.Contains(t, logs.String(), "warning: slack: could not send the smoke failed")
		})
	}
}

func TestNotify_RealSleepsStayWithinBudget(t *testing.T) {
	n := New(Config{Token: testToken, Channel: testChannel, APIURL: closedURL(t) + "/"}, ui.Discard{})
	n.backoff = 10 * time.Millisecond
	start := time.Now()
	_, err := n.Notify(context.Background(), Event{Status: "failed"})
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestNotify_Retries(t *testing.T) {
	tests := []struct {
		name      string
		script    []slackfake.Scripted
		wantErr   string
		wantCalls int
		wantWaits []time.Duration
	}{
		{name: "429 then success", script: []slackfake.Scripted{{Status: 429, RetryAfter: "2"}},
			wantCalls: 2, wantWaits: []time.Duration{2 * time.Second}},
		{name: "long Retry-After is capped", script: []slackfake.Scripted{{Status: 429, RetryAfter: "30"}},
			wantCalls: 2, wantWaits: []time.Duration{defaultMaxWait}},
		{name: "5xx twice then success", script: []slackfake.Scripted{{Status: 503}, {Status: 500}},
			wantCalls: 3, wantWaits: []time.Duration{defaultBackoff, 2 * defaultBackoff}},
		{name: "transient API error", script: []slackfake.Scripted{{APIError: "internal_error"}},
			wantCalls: 2, wantWaits: []time.Duration{defaultBackoff}},
		{name: "gives up after three attempts", script: []slackfake.Scripted{{Status: 429, RetryAfter: "1"}, {Status: 429, RetryAfter: "1"}, {Status: 429, RetryAfter: "1"}},
			wantErr: "rate limit", wantCalls: 3, wantWaits: []time.Duration{time.Second, time.Second}},
		{name: "bad token is not retried", script: []slackfake.Scripted{{APIError: "invalid_auth"}},
			wantErr: "invalid_auth", wantCalls: 1},
		{name: "4xx is not retried", script: []slackfake.Scripted{{Status: 400}},
			wantErr: "400", wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, api := slackfake.New(t, testToken)
			fake.Script(tt.script...)
			n, logs, sl := newTest(Config{Token: testToken, Channel: testChannel, APIURL: api})

			ts, err := n.Notify(context.Background(), Event{Stage: "deploy", Status: "succeeded"})
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Empty(t, ts)
				assert.Contains(t, logs.String(), "warning: slack:")
			} else {
				require.NoError(t, err)
				assert.NotEmpty(t, ts)
			}
			assert.Len(t, fake.Calls(), tt.wantCalls)
			assert.Equal(t, tt.wantWaits, sl.waits())
			assert.NotContains(t, logs.String(), testToken)
		})
	}
}

func TestNotify_WebhookRateLimited(t *testing.T) {
	var calls int
	var mu sync.Mutex
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	t.Cleanup(hook.Close)
	n, _, sl := newTest(Config{Webhook: hook.URL + "/services/x"})
	_, err := n.Notify(context.Background(), Event{Status: "succeeded"})
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{3 * time.Second}, sl.waits())
	assert.Equal(t, 2, calls)
}

func TestNotify_CancelledContextStopsRetrying(t *testing.T) {
	fake, api := slackfake.New(t, testToken)
	fake.Script([]slackfake.Scripted{{Status: 503}, {Status: 503}, {Status: 503}}...)
	n, _, _ := newTest(Config{Token: testToken, Channel: testChannel, APIURL: api})
	ctx, cancel := context.WithCancel(context.Background())
	n.sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
	_, err := n.Notify(ctx, Event{Status: "failed"})
	require.Error(t, err)
	assert.Len(t, fake.Calls(), 1)
}

func TestNotify_TokenNeverLogged(t *testing.T) {
	fake, api := slackfake.New(t, testToken)
	fake.Script([]slackfake.Scripted{{Status: 500}, {APIError: "invalid_auth"}}...)
	var buf bytes.Buffer
	log := ui.NewText(&buf, true)
	for _, cfg := range []Config{
		{Token: testToken, Channel: testChannel, APIURL: api},
		{Token: testToken, Channel: "#deploys", Thread: "1.2", APIURL: api},
		{Token: testToken, Channel: testChannel, APIURL: closedURL(t)},
		{Token: testToken},
	} {
		n := New(cfg, log)
		n.sleep = (&sleeps{}).sleep
		_, _ = n.Notify(context.Background(), Event{Stage: "deploy", Status: "failed", Reason: "boom"})
	}
	assert.NotEmpty(t, buf.String())
	assert.NotContains(t, buf.String(), testToken)
	assert.NotContains(t, buf.String(), "SECRET")
}
