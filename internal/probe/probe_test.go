package probe_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/probe"
)

// sequence answers with the given statuses in turn, repeating the last one.
func sequence(statuses ...int) (http.Handler, *atomic.Int64) {
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		status := statuses[min(i, len(statuses)-1)]
		w.WriteHeader(status)
		if status == http.StatusOK {
			_, _ = io.WriteString(w, `{"status":"ok"}`)
		} else {
			_, _ = io.WriteString(w, "{\"status\":\n  \"unhealthy\"}\n")
		}
	}), &n
}

func fast() probe.Options {
	return probe.Options{Interval: time.Millisecond, MaxInterval: 5 * time.Millisecond}
}

func TestWaitHealthy(t *testing.T) {
	tests := []struct {
		name      string
		tls       bool
		statuses  []int
		timeout   time.Duration
		expect    func(int) bool
		wantErr   []string
		wantCalls int64 // 0: don't check
		wantBody  string
	}{
		{name: "healthy after two 503s", statuses: []int{503, 503, 200}, timeout: 5 * time.Second, wantCalls: 3, wantBody: `{"status":"ok"}`},
		{name: "healthy over TLS", tls: true, statuses: []int{503, 200}, timeout: 5 * time.Second, wantCalls: 2, wantBody: `{"status":"ok"}`},
		{name: "healthy at once", statuses: []int{204}, timeout: 5 * time.Second, wantCalls: 1},
		{
			name: "never healthy", statuses: []int{503}, timeout: 200 * time.Millisecond,
			wantErr: []string{"not healthy after ", " attempts in ", `: last answer 503 Service Unavailable: {"status": "unhealthy"}`},
		},
		{
			name: "expect override accepts 401", statuses: []int{503, 401}, timeout: 5 * time.Second,
			expect: func(s int) bool { return s == http.StatusUnauthorized }, wantCalls: 2,
			wantBody: "{\"status\":\n  \"unhealthy\"}\n",
		},
		{
			name: "expect override rejects 200", statuses: []int{200}, timeout: 100 * time.Millisecond,
			expect:  func(s int) bool { return s == http.StatusNoContent },
			wantErr: []string{`last answer 200 OK: {"status":"ok"}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, calls := sequence(tt.statuses...)
			var srv *httptest.Server
			opts := fast()
			if tt.tls {
				srv = httptest.NewTLSServer(h)
				opts.Client = srv.Client()
			} else {
				srv = httptest.NewServer(h)
			}
			defer srv.Close()
			opts.Expect = tt.expect
			url := srv.URL + "/health"

			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			start := time.Now()
			res, err := probe.WaitHealthy(ctx, url, opts)
			assert.Equal(t, url, res.URL)
			if tt.wantErr != nil {
				// The last request may be cut by the deadline after the server
				// counted it, or be resent once by net/http on a keep-alive
				// connection the server closed: one call either way.
				assert.InDelta(t, calls.Load(), res.Attempts, 1)
			} else {
				assert.EqualValues(t, calls.Load(), res.Attempts)
			}
			if tt.wantErr != nil {
				require.Error(t, err)
				assert.GreaterOrEqual(t, time.Since(start), tt.timeout, "waits for the deadline")
				assert.True(t, strings.HasPrefix(err.Error(), "health check "+url+": "), err.Error())
				for _, s := range tt.wantErr {
					assert.Contains(t, err.Error(), s)
				}
				assert.Greater(t, res.Attempts, 1)
				assert.NotZero(t, res.Status)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantCalls, int64(res.Attempts))
			assert.Equal(t, tt.statuses[len(tt.statuses)-1], res.Status)
			assert.Equal(t, tt.wantBody, res.Body)
			assert.Positive(t, res.Elapsed)
			assert.Positive(t, res.Latency)
			assert.LessOrEqual(t, res.Latency, res.Elapsed)
		})
	}
}

func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "http://" + addr + "/health"
}

func TestWaitHealthyConnectionRefused(t *testing.T) {
	url := closedURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	res, err := probe.WaitHealthy(ctx, url, fast())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "health check "+url+": not healthy after ")
	assert.Contains(t, err.Error(), "last error: ")
	assert.Contains(t, err.Error(), "connection refused")
	assert.Equal(t, 1, strings.Count(err.Error(), url), "URL is not repeated: %s", err)
	assert.Zero(t, res.Status)
	assert.Greater(t, res.Attempts, 1)
}

func TestInvalidURLFailsAtOnce(t *testing.T) {
	tests := []struct {
		url  string
		want string
	}{
		{"", "empty URL"},
		{"://nohost", "invalid URL: missing protocol scheme"},
		{"localhost:8080/health", `unsupported scheme "localhost"`},
		{"ftp://example.com/health", `unsupported scheme "ftp"`},
		{"/health", "missing scheme"},
		{"http:///health", "missing host"},
		{"http://[::1/health", "invalid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for _, f := range []func(context.Context, string, probe.Options) (probe.Result, error){probe.WaitHealthy, probe.Get} {
				start := time.Now()
				res, err := f(ctx, tt.url, probe.Options{})
				require.Error(t, err)
				assert.Less(t, time.Since(start), time.Second)
				assert.Contains(t, err.Error(), tt.want)
				assert.True(t, strings.HasPrefix(err.Error(), "health check "+tt.url+": "), err.Error())
				assert.Zero(t, res.Attempts)
			}
		})
	}
}

func TestHeadersAreSent(t *testing.T) {
	var mu sync.Mutex
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Clone(context.Background())
		mu.Unlock()
	}))
	defer srv.Close()
	opts := probe.Options{Headers: http.Header{
		"Authorization": {"Bearer t0ken"},
		"X-Multi":       {"a", "b"},
		"host":          {"erlmcp.example.com"},
	}}
	for _, f := range []func(context.Context, string, probe.Options) (probe.Result, error){probe.WaitHealthy, probe.Get} {
		res, err := f(context.Background(), srv.URL+"/health", opts)
		require.NoError(t, err)
		assert.Equal(t, 200, res.Status)
		mu.Lock()
		assert.Equal(t, http.MethodGet, got.Method)
		assert.Equal(t, "Bearer t0ken", got.Header.Get("Authorization"))
		assert.Equal(t, []string{"a", "b"}, got.Header.Values("X-Multi"))
		assert.Equal(t, "erlmcp.example.com", got.Host)
		mu.Unlock()
	}
}

func TestGet(t *testing.T) {
	long := strings.Repeat("x", 2000)
	tests := []struct {
		name     string
		status   int
		body     string
		wantErr  string
		wantBody string
	}{
		{name: "healthy", status: 200, body: "ok", wantBody: "ok"},
		{name: "one attempt only", status: 500, body: "boom", wantErr: "not healthy after 1 attempt in ", wantBody: "boom"},
		{name: "body is cut at 512 bytes", status: 502, body: long, wantErr: "last answer 502 Bad Gateway: " + long[:512], wantBody: long[:512]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			res, err := probe.Get(context.Background(), srv.URL, probe.Options{})
			assert.EqualValues(t, 1, calls.Load())
			assert.Equal(t, 1, res.Attempts)
			assert.Equal(t, tt.status, res.Status)
			assert.Equal(t, tt.wantBody, res.Body)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.NotContains(t, err.Error(), long[:513])
				return
			}
			require.NoError(t, err)
		})
	}
}

func TestGetConnectionRefused(t *testing.T) {
	url := closedURL(t)
	res, err := probe.Get(context.Background(), url, probe.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "health check "+url+": not healthy after 1 attempt in ")
	assert.Contains(t, err.Error(), "connection refused")
	assert.Equal(t, 1, res.Attempts)
}

func TestPerRequestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	opts := probe.Options{Client: &http.Client{Timeout: 50 * time.Millisecond}}
	_, err := probe.Get(context.Background(), srv.URL, opts)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Client.Timeout exceeded")
}

func TestCanceledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := probe.WaitHealthy(ctx, "http://127.0.0.1:1/health", probe.Options{})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, res.Attempts)
}

func TestKeepsLastAnswerWhenDeadlineCutsARequest(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		<-r.Context().Done() // later attempts hang until the deadline
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res, err := probe.WaitHealthy(ctx, srv.URL, fast())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "last answer 503 Service Unavailable")
	assert.Equal(t, http.StatusServiceUnavailable, res.Status)
	assert.Equal(t, 2, res.Attempts)
}
