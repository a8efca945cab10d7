package kube

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/org/erlmcp-deploy/internal/backoff"
)

// Retry retries requests the API server turns away for a moment: 429 Too
// Many Requests (API priority and fairness) and 500/502/503/504 (an
// apiserver restarting, etcd leader changes, a load balancer in front).
// client-go alone retries those only when they carry Retry-After.
type Retry struct {
	// Attempts is how many times one request is tried (default 6).
	Attempts int
	// Base is the first backoff, doubled after each try up to Max (defaults 250ms and 4s).
	Base, Max time.Duration
	// OnRetry, when set, is told before each retry.
	OnRetry func(RetryEvent)
	// Sleep waits (tests); default a timer that ends early when ctx does.
	Sleep func(ctx context.Context, d time.Duration) error
}

// RetryEvent is one retry of one request.
type RetryEvent struct {
	Method, Path string
	// Status is the HTTP status that caused the retry.
	Status int
	// Attempt is the try that failed (1 = the first).
	Attempt, Attempts int
	Wait              time.Duration
}

// Retryable reports whether status is one the API server may answer for a moment.
func Retryable(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// Backoff is the wait before try attempt+1: Retry-After when the server gave
// one (capped at 4*Max), else Base doubled per attempt up to Max.
func (r Retry) Backoff(attempt int, retryAfter string) time.Duration {
	r = r.withDefaults()
	if s, err := strconv.Atoi(retryAfter); err == nil && s >= 0 {
		return min(time.Duration(s)*time.Second, 4*r.Max)
	}
	return backoff.Exponential(r.Base, r.Max, attempt)
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 6
	}
	if r.Base <= 0 {
		r.Base = 250 * time.Millisecond
	}
	if r.Max <= 0 {
		r.Max = 4 * time.Second
	}
	if r.Sleep == nil {
		r.Sleep = backoff.Sleep
	}
	return r
}

// Wrap returns rt retrying as r says. A request whose body cannot be read
// again (no GetBody) is tried once; a retry that would wait past the
// request's deadline is not made.
func (r Retry) Wrap(rt http.RoundTripper) http.RoundTripper {
	return &retryTransport{next: rt, r: r.withDefaults()}
}

type retryTransport struct {
	next http.RoundTripper
	r    Retry
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		resp, err := t.next.RoundTrip(req)
		if err != nil || !Retryable(resp.StatusCode) || attempt >= t.r.Attempts || (req.Body != nil && req.GetBody == nil) {
			return resp, err
		}
		wait := t.r.Backoff(attempt, resp.Header.Get("Retry-After"))
		if dl, ok := req.Context().Deadline(); ok && time.Now().Add(wait).After(dl) {
			return resp, nil // the caller hears the server's own answer rather than a bare deadline
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if t.r.OnRetry != nil {
			t.r.OnRetry(RetryEvent{Method: req.Method, Path: req.URL.Path, Status: resp.StatusCode, Attempt: attempt, Attempts: t.r.Attempts, Wait: wait})
		}
		if err := t.r.Sleep(req.Context(), wait); err != nil {
			return nil, err
		}
		next := req.Clone(req.Context())
		if req.GetBody != nil {
			if next.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
		req = next
	}
}
