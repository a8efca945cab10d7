package ghretry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-github/v89/github"
	"github.com/stretchr/testify/assert"
)

func TestBackoff(t *testing.T) {
	r := Policy{}.withDefaults()
	for i, w := range []int{1, 2, 4, 8, 16, 30, 30} {
		assert.Equal(t, time.Duration(w)*time.Second, r.backoff(i+1), "backoff(%d)", i+1)
	}
}

func resp(code int, h http.Header) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	return &http.Response{StatusCode: code, Header: h}
}

func TestRetryable(t *testing.T) {
	after := 42 * time.Second
	for _, tc := range []struct {
		name   string
		err    error
		retry  bool
		wait   time.Duration
		status int
	}{
		{"nil", nil, false, 0, 0},
		{"500", &github.ErrorResponse{Response: resp(500, nil)}, true, 0, 500},
		{"429 Retry-After", &github.ErrorResponse{Response: resp(429, http.Header{"Retry-After": {"7"}})}, true, 7 * time.Second, 429},
		{"422", &github.ErrorResponse{Response: resp(422, nil)}, false, 0, 422},
		{"403 not a rate limit", &github.ErrorResponse{Response: resp(403, nil)}, false, 0, 403},
		{"secondary rate limit", &github.AbuseRateLimitError{Response: resp(403, nil), RetryAfter: &after}, true, after, 403},
		{"permanent", Permanent(errors.New("no file")), false, 0, 0},
		{"retry now", fmt.Errorf("x: %w", ErrRetryNow), true, 0, 0},
		{"canceled", context.Canceled, false, 0, 0},
		{"transport", errors.New("connection reset by peer"), true, 0, 0},
	} {
		ok, wait := Retryable(tc.err)
		assert.Equal(t, tc.retry, ok, tc.name)
		assert.Equal(t, tc.wait, wait, tc.name)
		assert.Equal(t, tc.status, StatusCode(tc.err), tc.name)
	}
}

func TestDo(t *testing.T) {
	var waits []time.Duration
	var notes int
	p := Policy{Attempts: 3, Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }}
	calls := 0
	err := p.Do(context.Background(), "x", func(string, ...any) { notes++ }, func() error {
		calls++
		return &github.ErrorResponse{Response: resp(502, nil)}
	})
	assert.Error(t, err)
	assert.Equal(t, 3, calls)
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second}, waits)
	assert.Equal(t, 2, notes)

	calls = 0
	assert.NoError(t, p.Do(context.Background(), "x", nil, func() error {
		if calls++; calls == 1 {
			return ErrRetryNow
		}
		return nil
	}))
	assert.Equal(t, 2, calls)
	assert.Len(t, waits, 2, "a retry-now does not wait")
}
