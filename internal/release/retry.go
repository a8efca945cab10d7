package release

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/google/go-github/v89/github"

	"github.com/org/erlmcp-deploy/internal/backoff"
)

// Retry is the retry policy for GitHub calls.
type Retry struct {
	// Attempts is the most tries of one call (default 5).
	Attempts int
	// Base is the first backoff (default 1s); it doubles up to Max (default 30s).
	Base, Max time.Duration
	// MaxWait caps a server-requested wait (Retry-After, rate-limit reset; default 2m).
	MaxWait time.Duration
	// Sleep waits d or until ctx ends (default: a timer). Tests inject a recorder.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 5
	}
	if r.Base <= 0 {
		r.Base = time.Second
	}
	if r.Max <= 0 {
		r.Max = 30 * time.Second
	}
	if r.MaxWait <= 0 {
		r.MaxWait = 2 * time.Minute
	}
	if r.Sleep == nil {
		r.Sleep = backoff.Sleep
	}
	return r
}

// backoff is the wait before try attempt+1 (attempt counts from 1).
func (r Retry) backoff(attempt int) time.Duration {
	return backoff.Exponential(r.Base, r.Max, attempt)
}

// Retryable reports whether err is worth another try and how long the server
// asked to wait (0 when it did not say): 5xx, 429, primary and secondary rate
// limits, and transport errors such as a connection reset mid-upload.
func Retryable(err error) (bool, time.Duration) {
	if err == nil {
		return false, 0
	}
	var perm *permanent
	if errors.As(err, &perm) {
		return false, 0
	}
	if errors.Is(err, errRetryNow) {
		return true, 0
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false, 0
	}
	var rl *github.RateLimitError
	if errors.As(err, &rl) {
		return true, max(time.Until(rl.Rate.Reset.Time), 0)
	}
	var abuse *github.AbuseRateLimitError
	if errors.As(err, &abuse) {
		if abuse.RetryAfter != nil {
			return true, *abuse.RetryAfter
		}
		return true, retryAfter(abuse.Response)
	}
	var er *github.ErrorResponse
	if errors.As(err, &er) {
		if er.Response == nil {
			return false, 0
		}
		code := er.Response.StatusCode
		if code >= 500 || code == http.StatusTooManyRequests {
			return true, retryAfter(er.Response)
		}
		return false, 0
	}
	var accepted *github.AcceptedError
	if errors.As(err, &accepted) {
		return true, 0
	}
	// Anything else is the transport failing: reset, EOF, refused, timeout.
	return true, 0
}

// retryAfter reads a Retry-After header (seconds or an HTTP date).
func retryAfter(resp *http.Response) time.Duration {
	if resp == nil {
		return 0
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// do runs call until it succeeds, fails for good, or runs out of attempts.
func (p *Publisher) do(ctx context.Context, what string, call func() error) error {
	r := p.Retry.withDefaults()
	for attempt := 1; ; attempt++ {
		err := call()
		if err == nil {
			return nil
		}
		ok, wait := Retryable(err)
		if !ok || attempt >= r.Attempts || ctx.Err() != nil {
			return err
		}
		if errors.Is(err, errRetryNow) {
			continue
		}
		if wait <= 0 {
			wait = r.backoff(attempt)
		}
		wait = min(wait, r.MaxWait)
		p.log().Warnf("%s failed (attempt %d/%d), retrying in %s: %v", what, attempt, r.Attempts, wait, err)
		if serr := r.Sleep(ctx, wait); serr != nil {
			return serr
		}
	}
}
