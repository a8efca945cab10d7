package loadgate_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/loadgate"
)

func ptr(f float64) *float64 { return &f }

func TestClosedLoopPasses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer srv.Close()
	t0 := time.Now()
	res, err := loadgate.Run(context.Background(), loadgate.Options{URL: srv.URL, Duration: 500 * time.Millisecond, Concurrency: 4})
	require.NoError(t, err)
	assert.Less(t, time.Since(t0), 3*time.Second)
	assert.Equal(t, loadgate.ClosedLoop, res.Mode)
	assert.Positive(t, res.Requests)
	assert.Zero(t, res.Errors)
	assert.Positive(t, res.RPS)
	assert.LessOrEqual(t, res.P50, res.P95)
	assert.LessOrEqual(t, res.P95, res.P99)
	assert.LessOrEqual(t, res.P99, res.Max)
	v := res.Check(loadgate.Gates{P50: time.Second, P95: time.Second, P99: time.Second, MinRPS: 10, MaxErrorRate: ptr(0)})
	assert.Empty(t, v)
	assert.True(t, res.Passed())
}

func TestClosedLoopGatesFail(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(20 * time.Millisecond)
		if n.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	res, err := loadgate.Run(context.Background(), loadgate.Options{URL: srv.URL, Duration: 400 * time.Millisecond, Concurrency: 2})
	require.NoError(t, err)
	v := res.Check(loadgate.Gates{P50: 5 * time.Millisecond, P99: 10 * time.Millisecond, MinRPS: 1000, MaxErrorRate: ptr(0.1)})
	require.Len(t, v, 4)
	assert.Regexp(t, `^p50 \d+(\.\d)?ms > 5ms$`, v[0])
	assert.Regexp(t, `^p99 \d+(\.\d)?ms > 10ms$`, v[1])
	assert.Regexp(t, `^throughput \d+\.\d req/s < 1000 req/s$`, v[2])
	assert.Regexp(t, `^error rate (4\d|5\d)\.\d\d% > 10% \(\d+ of \d+ requests failed: \d+× 500 Internal Server Error\)$`, v[3])
}

func TestConstantRate(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	res, err := loadgate.Run(context.Background(), loadgate.Options{URL: srv.URL, Duration: time.Second, Rate: 200, Concurrency: 4})
	require.NoError(t, err)
	assert.Equal(t, loadgate.ConstantRate, res.Mode)
	assert.InDelta(t, 200, res.Requests, 10, "1 s at 200 req/s")
	assert.InDelta(t, 200, res.RPS, 20)
	assert.Empty(t, res.Check(loadgate.Gates{P99: 500 * time.Millisecond, MinRPS: 150, MaxErrorRate: ptr(0)}))
}

// A server that stalls for 300 ms once: at a constant rate the requests that
// should have been sent during the stall are measured from their intended
// send time, so p99 shows the stall (coordinated omission is avoided).
func TestConstantRateCoordinatedOmission(t *testing.T) {
	var stalled atomic.Bool
	start := time.Now()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if time.Since(start) > 200*time.Millisecond && !stalled.Swap(true) {
			time.Sleep(300 * time.Millisecond)
		}
	}))
	defer srv.Close()
	// One connection: every request queues behind the stall.
	res, err := loadgate.Run(context.Background(), loadgate.Options{URL: srv.URL, Duration: time.Second, Rate: 100, Concurrency: 1})
	require.NoError(t, err)
	// ~30 of 100 requests were due during the stall: p95 must show it.
	assert.Greater(t, res.P95, 100*time.Millisecond, "p95 %s", res.P95)
	v := res.Check(loadgate.Gates{P95: 50 * time.Millisecond})
	require.Len(t, v, 1)
	assert.Contains(t, v[0], "p95 ")
}

func TestBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer srv.Close()
	t0 := time.Now()
	res, err := loadgate.Run(context.Background(), loadgate.Options{URL: srv.URL, Duration: 200 * time.Millisecond, Concurrency: 3, Drain: 200 * time.Millisecond})
	require.NoError(t, err)
	assert.Less(t, time.Since(t0), 2*time.Second, "stops at duration + drain")
	assert.Equal(t, int64(3), res.Requests)
	assert.Equal(t, int64(3), res.Errors)
	assert.Equal(t, map[string]int{"cut off at the end of the drain": 3}, res.ErrorKinds)

	fast := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer fast.Close()
	res, err = loadgate.Run(context.Background(), loadgate.Options{URL: fast.URL, Duration: 5 * time.Second, Concurrency: 4, MaxRequests: 50})
	require.NoError(t, err)
	assert.Equal(t, int64(50), res.Requests, "never more than the cap")
	assert.True(t, res.Capped)
}

func TestConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	res, err := loadgate.Run(context.Background(), loadgate.Options{URL: url, Duration: 100 * time.Millisecond, Concurrency: 1, MaxRequests: 20})
	require.NoError(t, err)
	v := res.Check(loadgate.Gates{MaxErrorRate: ptr(0)})
	require.Len(t, v, 1)
	assert.Contains(t, v[0], "error rate 100.00% > 0%")
	assert.Contains(t, v[0], "connection refused")
}

func TestInvalidOptions(t *testing.T) {
	_, err := loadgate.Run(context.Background(), loadgate.Options{URL: "ftp://x", Duration: time.Second})
	assert.EqualError(t, err, `load gate: "ftp://x" is not an http(s) URL`)
	_, err = loadgate.Run(context.Background(), loadgate.Options{URL: "http://127.0.0.1:1", Duration: 0})
	assert.ErrorContains(t, err, "duration 0s must be in")
}
