package kube_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/kube"
)

func TestBackoff(t *testing.T) {
	r := kube.Retry{Base: 100 * time.Millisecond, Max: time.Second}
	for _, tc := range []struct {
		attempt    int
		retryAfter string
		want       time.Duration
	}{
		{1, "", 100 * time.Millisecond},
		{2, "", 200 * time.Millisecond},
		{4, "", 800 * time.Millisecond},
		{5, "", time.Second},
		{30, "", time.Second},
		{1, "2", 2 * time.Second},
		{1, "0", 0},
		{1, "3600", 4 * time.Second},
		{1, "soon", 100 * time.Millisecond},
	} {
		assert.Equal(t, tc.want, r.Backoff(tc.attempt, tc.retryAfter), "attempt %d, Retry-After %q", tc.attempt, tc.retryAfter)
	}
}

// flaky answers the first failures requests with status, then 200 echoing the body.
type flaky struct {
	mu       sync.Mutex
	failures int
	status   int
	bodies   []string
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bodies = append(f.bodies, string(b))
	if f.failures > 0 {
		f.failures--
		w.Header().Set("Retry-After", "0")
		http.Error(w, "busy", f.status)
		return
	}
	_, _ = w.Write(b)
}

func TestRetryTransport(t *testing.T) {
	noSleep := func(context.Context, time.Duration) error { return nil }
	for _, tc := range []struct {
		name       string
		failures   int
		status     int
		attempts   int
		wantStatus int
		wantTries  int
	}{
		{"429 then ok", 2, http.StatusTooManyRequests, 6, 200, 3},
		{"500 then ok", 5, http.StatusInternalServerError, 6, 200, 6},
		{"503 for too long", 10, http.StatusServiceUnavailable, 3, 503, 3},
		{"404 is not retried", 3, http.StatusNotFound, 6, 404, 1},
		{"409 is not retried", 3, http.StatusConflict, 6, 409, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &flaky{failures: tc.failures, status: tc.status}
			srv := httptest.NewServer(f)
			defer srv.Close()
			var events []kube.RetryEvent
			rt := kube.Retry{Attempts: tc.attempts, Sleep: noSleep, OnRetry: func(e kube.RetryEvent) { events = append(events, e) }}.Wrap(http.DefaultTransport)
			req, err := http.NewRequest(http.MethodPatch, srv.URL+"/apis/apps/v1/namespaces/x/deployments/erlmcp", strings.NewReader(`{"spec":{}}`))
			require.NoError(t, err)
			resp, err := rt.RoundTrip(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			assert.Equal(t, tc.wantStatus, resp.StatusCode)
			assert.Len(t, f.bodies, tc.wantTries)
			for _, b := range f.bodies {
				assert.Equal(t, `{"spec":{}}`, b, "every try sends the whole body")
			}
			if tc.wantStatus == 200 {
				assert.Equal(t, `{"spec":{}}`, string(body))
			}
			require.Len(t, events, tc.wantTries-1)
			for i, e := range events {
				assert.Equal(t, kube.RetryEvent{Method: "PATCH", Path: "/apis/apps/v1/namespaces/x/deployments/erlmcp", Status: tc.status,
					Attempt: i + 1, Attempts: tc.attempts, Wait: 0}, e)
			}
		})
	}
}

func TestRetryRespectsTheRequestsDeadlineAndCancel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "etcdserver: leader changed", http.StatusInternalServerError)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	began := time.Now()
	resp, err := kube.Retry{}.Wrap(http.DefaultTransport).RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode, "a wait past the deadline is not made: the server's answer is returned")
	assert.Contains(t, string(body), "etcdserver: leader changed")
	assert.Less(t, time.Since(began), time.Second)

	ctx, cancel = context.WithCancel(context.Background())
	req, err = http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	time.AfterFunc(200*time.Millisecond, cancel)
	began = time.Now()
	_, err = kube.Retry{}.Wrap(http.DefaultTransport).RoundTrip(req)
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(began), 3*time.Second, "the 5 s Retry-After wait ends with the request")
}
