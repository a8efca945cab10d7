// Package ghretry is the retry policy of every GitHub REST call made here
// (release notes, deployments): exponential backoff on 5xx, 429 and transport
// errors, and the server's own wait on primary and secondary rate limits
// (Retry-After, x-ratelimit-reset), capped.
package ghretry

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/google/go-github/v89/github"

	"github.com/org/erlmcp-deploy/internal/backoff"
)

// Policy is the retry policy for GitHub calls; its zero value is the default.
type Policy struct {
	// Attempts is the most tries of one call (default 5).
	Attempts int
	// Base is the first backoff (default 1s); it doubles up to Max (default 30s).
	Base, Max time.Duration
	// MaxWait caps a server-requested wait (Retry-After, rate-limit reset; default 2m).
	MaxWait time.Duration
	// Sleep waits d or until ctx ends (default: a timer). Tests inject a recorder.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Brief fills p's zero fields for a call beside the run's real work (a
// deployment record, a pull-request comment): 3 attempts, 1s to 4s apart,
// at most 30s of a server-requested wait, so GitHub's trouble never holds
// a deploy up for long.
func (p Policy) Brief() Policy { return p.fill(3, time.Second, 4*time.Second, 30*time.Second) }

func (p Policy) withDefaults() Policy { return p.fill(5, time.Second, 30*time.Second, 2*time.Minute) }

// fill sets p's zero fields to the given values (and Sleep to a timer).
func (p Policy) fill(attempts int, base, maxBackoff, maxWait time.Duration) Policy {
	if p.Attempts <= 0 {
		p.Attempts = attempts
	}
	if p.Base <= 0 {
		p.Base = base
	}
	if p.Max <= 0 {
		p.Max = maxBackoff
	}
	if p.MaxWait <= 0 {
		p.MaxWait = maxWait
	}
	if p.Sleep == nil {
		p.Sleep = backoff.Sleep
	}
	return p
}

// backoff is the wait before try attempt+1 (attempt counts from 1).
func (p Policy) backoff(attempt int) time.Duration {
	return backoff.Exponential(p.Base, p.Max, attempt)
}

// Do runs call until it succeeds, fails for good, runs out of attempts or ctx
// ends, and returns call's last error. Before each wait it tells notify (when
// not nil) what failed and how long it waits.
func (p Policy) Do(ctx context.Context, what string, notify func(format string, args ...any), call func() error) error {
	r := p.withDefaults()
	for attempt := 1; ; attempt++ {
		err := call()
		if err == nil {
			return nil
		}
		ok, wait := Retryable(err)
		if !ok || attempt >= r.Attempts || ctx.Err() != nil {
			return err
		}
		if errors.Is(err, ErrRetryNow) {
			continue
		}
		if wait <= 0 {
			wait = r.backoff(attempt)
		}
		wait = min(wait, r.MaxWait)
		if notify != nil {
			notify("%s failed (attempt %d/%d), retrying in %s: %v", what, attempt, r.Attempts, wait, err)
		}
		if serr := r.Sleep(ctx, wait); serr != nil {
			return serr
		}
	}
}

// ErrRetryNow, returned by a call, asks Do for another try without waiting.
var ErrRetryNow = errors.New("retry now")

// Permanent marks err as one no retry can fix (nil stays nil).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanent{err}
}

type permanent struct{ err error }

func (e *permanent) Error() string { return e.err.Error() }
func (e *permanent) Unwrap() error { return e.err }

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
	if errors.Is(err, ErrRetryNow) {
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

// StatusCode is the HTTP status of a GitHub error (0 for a transport error).
func StatusCode(err error) int {
	var rl *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	var er *github.ErrorResponse
	var resp *http.Response
	switch {
	case errors.As(err, &rl):
		resp = rl.Response
	case errors.As(err, &abuse):
		resp = abuse.Response
	case errors.As(err, &er):
		resp = er.Response
	case errors.As(err, new(*github.AcceptedError)):
		return http.StatusAccepted
	}
	if resp == nil {
		return 0
	}
	return resp.StatusCode
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
