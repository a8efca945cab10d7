// Package notify tells Slack what a deploy, smoke test or rollback did.
//
// With a bot token and a channel it posts one message per pipeline run with
// chat.postMessage and updates it in place with chat.update as later stages
// pass the returned ts back as Config.Thread; with only an incoming webhook it
// posts a new message each time (webhooks cannot update). Messages are built as
// Block Kit with slack-go, never by string templating, so quotes, backticks and
// multi-line commit messages cannot break the payload.
//
// Slack is never a reason to fail a deploy: Notify retries rate limits and
// transient errors briefly, then logs a warning and returns the error, which the
// caller should treat as a warning (or use NotifyBestEffort).
package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/org/erlmcp-deploy/internal/backoff"
	"github.com/org/erlmcp-deploy/internal/ui"
)

// Retry policy defaults: a few attempts, all within a short total budget.
const (
	defaultAttempts       = 3
	defaultBudget         = 10 * time.Second
	defaultAttemptTimeout = 5 * time.Second
	defaultMaxWait        = 5 * time.Second
	defaultBackoff        = 500 * time.Millisecond
)

// Slack API errors meaning the message to update is gone or unreachable; a new message is posted instead.
var updateGone = map[string]bool{"message_not_found": true, "cant_update_message": true, "channel_not_found": true}

// Slack API errors worth another attempt.
var transientAPIErrors = map[string]bool{"internal_error": true, "fatal_error": true, "service_unavailable": true, "request_timeout": true, "ratelimited": true}

// Config says where notifications go; the zero value disables them.
type Config struct {
	// Token is a bot token (xoxb-…); with Channel it enables chat.postMessage and chat.update.
	Token string
	// Channel is the channel to post to; use its ID (C…): chat.update rejects channel names.
	Channel string
	// Thread is the ts of an existing message (a previous stage's output) to update in place.
	Thread string
	// Webhook is an incoming-webhook URL, used when there is no bot token and channel.
	Webhook string
	// Mention is pinged on production failures: "<!subteam^S012345>", "<@U123>", or plain text such as "@oncall".
	Mention string
	// APIURL overrides the Slack API base URL, for tests (slack.OptionAPIURL).
	APIURL string
	// HTTPClient sends the requests (default: a client with a 5 s timeout).
	HTTPClient *http.Client
}

type mode int

const (
	modeOff mode = iota
	modeBot
	modeWebhook
)

// Notifier sends Events to Slack; a nil or disabled Notifier does nothing.
type Notifier struct {
	cfg  Config
	mode mode
	log  ui.Logger
	api  *slack.Client
	http *http.Client

	// Retry policy; tests shorten it and replace sleep.
	sleep          func(ctx context.Context, d time.Duration) error
	attempts       int
	budget         time.Duration
	attemptTimeout time.Duration
	maxWait        time.Duration
	backoff        time.Duration
}

// New returns a Notifier for cfg; without a token+channel or a webhook its methods do nothing.
func New(cfg Config, log ui.Logger) *Notifier {
	if log == nil {
		log = ui.Discard{}
	}
	cfg = trimConfig(cfg)
	n := &Notifier{
		cfg:            cfg,
		log:            log,
		sleep:          backoff.Sleep,
		attempts:       defaultAttempts,
		budget:         defaultBudget,
		attemptTimeout: defaultAttemptTimeout,
		maxWait:        defaultMaxWait,
		backoff:        defaultBackoff,
	}
	switch {
	case cfg.Token != "" && cfg.Channel != "":
		n.mode = modeBot
	case cfg.Webhook != "":
		n.mode = modeWebhook
	case cfg.Token != "":
		log.Warnf("slack: a bot token was given without a channel; Slack notifications are off")
	case cfg.Channel != "":
		log.Warnf("slack: a channel was given without a bot token or webhook; Slack notifications are off")
	}
	if n.mode == modeOff {
		return n
	}
	n.http = cfg.HTTPClient
	if n.http == nil {
		n.http = &http.Client{Timeout: defaultAttemptTimeout}
	}
	if n.mode == modeBot {
		opts := []slack.Option{slack.OptionHTTPClient(n.http), slack.OptionLog(discardLogger())}
		if cfg.APIURL != "" {
			opts = append(opts, slack.OptionAPIURL(strings.TrimSuffix(cfg.APIURL, "/")+"/"))
		}
		n.api = slack.New(cfg.Token, opts...)
		if cfg.Thread != "" && !looksLikeChannelID(cfg.Channel) {
			log.Warnf("slack: channel %q is not a channel ID; chat.update needs one (C…), a new message may be posted instead", cfg.Channel)
		}
	} else if cfg.Thread != "" {
		log.Debugf("slack: webhooks cannot update messages; each stage posts a new one")
	}
	return n
}

// Enabled reports whether notifications are sent at all.
func (n *Notifier) Enabled() bool { return n != nil && n.mode != modeOff }

// Notify posts ev (or updates Config.Thread) and returns the message ts ("" for webhooks); treat its error as a warning.
func (n *Notifier) Notify(ctx context.Context, ev Event) (string, error) {
	if !n.Enabled() {
		return "", nil
	}
	ctx, cancel := context.WithTimeout(ctx, n.budget)
	defer cancel()

	msg := buildMessage(ev, n.cfg.Mention)
	var (
		ts  string
		err error
	)
	if n.mode == modeBot {
		ts, err = n.sendBot(ctx, msg)
	} else {
		err = n.sendWebhook(ctx, msg)
	}
	if err != nil {
		err = n.redact(err)
		n.log.Warnf("slack: could not send the %s notification: %v", ev, err)
		return "", fmt.Errorf("slack notification (%s): %w", ev, err)
	}
	return ts, nil
}

// NotifyBestEffort is Notify for callers that only want the ts: on error it logs a warning and returns "".
func (n *Notifier) NotifyBestEffort(ctx context.Context, ev Event) string {
	ts, _ := n.Notify(ctx, ev) // Notify has already logged the warning.
	return ts
}

// sendBot updates Config.Thread if set, else (or if that message is gone) posts a new message.
func (n *Notifier) sendBot(ctx context.Context, msg message) (string, error) {
	opts := []slack.MsgOption{
		slack.MsgOptionText(msg.text, false),
		slack.MsgOptionBlocks(msg.blocks...),
		slack.MsgOptionAttachments(msg.attachments...),
	}
	if thread := n.cfg.Thread; thread != "" {
		var ts string
		err := n.retry(ctx, "chat.update", func(ctx context.Context) error {
			var err error
			_, ts, _, err = n.api.UpdateMessageContext(ctx, n.cfg.Channel, thread, opts...)
			return err
		})
		if err == nil {
			n.log.Infof("slack: updated message %s in %s", orDefault(ts, thread), n.cfg.Channel)
			return orDefault(ts, thread), nil
		}
		var apiErr slack.SlackErrorResponse
		if !errors.As(err, &apiErr) || !updateGone[apiErr.Err] {
			return "", fmt.Errorf("update message %s in %s: %w", thread, n.cfg.Channel, err)
		}
		n.log.Warnf("slack: cannot update message %s in %s (%v); posting a new message", thread, n.cfg.Channel, err)
	}
	var ts string
	err := n.retry(ctx, "chat.postMessage", func(ctx context.Context) error {
		var err error
		_, ts, err = n.api.PostMessageContext(ctx, n.cfg.Channel, opts...)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("post message to %s: %w", n.cfg.Channel, err)
	}
	n.log.Infof("slack: posted message %s to %s", ts, n.cfg.Channel)
	return ts, nil
}

// sendWebhook posts msg to the incoming webhook.
func (n *Notifier) sendWebhook(ctx context.Context, msg message) error {
	wm := &slack.WebhookMessage{
		Text:        msg.text,
		Blocks:      &slack.Blocks{BlockSet: msg.blocks},
		Attachments: msg.attachments,
	}
	err := n.retry(ctx, "webhook", func(ctx context.Context) error {
		return slack.PostWebhookCustomHTTPContext(ctx, n.cfg.Webhook, n.http, wm)
	})
	if err != nil {
		return fmt.Errorf("post to webhook: %w", err)
	}
	n.log.Infof("slack: posted message via webhook")
	return nil
}

// retry runs call until it succeeds, fails for good, runs out of attempts or would overrun ctx.
func (n *Notifier) retry(ctx context.Context, op string, call func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, n.attemptTimeout)
		err := call(actx)
		cancel()
		if err == nil {
			return nil
		}
		wait, ok := n.retryDelay(err, attempt)
		if !ok || attempt >= n.attempts || ctx.Err() != nil {
			return err
		}
		if deadline, has := ctx.Deadline(); has && time.Until(deadline) < wait {
			return err
		}
		n.log.Debugf("slack: %s attempt %d/%d failed: %v; retrying in %s", op, attempt, n.attempts, n.redact(err), wait)
		if n.sleep(ctx, wait) != nil {
			return err
		}
	}
}

// retryDelay says whether err is worth another attempt and how long to wait first.
func (n *Notifier) retryDelay(err error, attempt int) (time.Duration, bool) {
	wait := backoff.Exponential(n.backoff, n.maxWait, attempt)
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		if rl.RetryAfter <= 0 {
			return wait, true
		}
		return min(rl.RetryAfter, n.maxWait), true
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		return wait, sc.Retryable()
	}
	var apiErr slack.SlackErrorResponse
	if errors.As(err, &apiErr) {
		return wait, transientAPIErrors[apiErr.Err]
	}
	var opErr *net.OpError
	var netErr net.Error
	switch {
	case errors.As(err, &opErr),
		errors.As(err, &netErr) && netErr.Timeout(),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return wait, true
	}
	return 0, false
}

// redactedError hides secrets in an error's text but still unwraps to it.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact removes the token and webhook URL from err's text.
func (n *Notifier) redact(err error) error {
	if err == nil {
		return nil
	}
	msg := n.scrub(err.Error())
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

// scrub replaces the token and the webhook URL (and its secret path) in s.
func (n *Notifier) scrub(s string) string {
	if t := n.cfg.Token; t != "" {
		s = strings.ReplaceAll(s, t, "[redacted]")
	}
	if w := n.cfg.Webhook; w != "" {
		shown := "[redacted webhook]"
		u, err := url.Parse(w)
		if err == nil && u.Host != "" {
			shown = u.Scheme + "://" + u.Host + "/[redacted]"
		}
		s = strings.ReplaceAll(s, w, shown)
		if err == nil {
			for _, secret := range []string{u.EscapedPath(), u.Path, u.RawQuery} {
				if len(secret) > 1 {
					s = strings.ReplaceAll(s, secret, "[redacted]")
				}
			}
		}
	}
	return s
}

// looksLikeChannelID reports whether c is a Slack conversation ID (C…, G…, D…) rather than a name.
func looksLikeChannelID(c string) bool {
	if len(c) < 9 || !strings.ContainsRune("CGD", rune(c[0])) {
		return false
	}
	for _, r := range c {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

func trimConfig(c Config) Config {
	for _, s := range []*string{&c.Token, &c.Channel, &c.Thread, &c.Webhook, &c.Mention, &c.APIURL} {
		*s = strings.TrimSpace(*s)
	}
	return c
}

// discardLogger keeps slack-go from writing to stderr.
func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
