package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLgOrder: the peers alternate first place round by round.
func TestLgOrder(t *testing.T) {
	for _, tc := range []struct {
		round   int
		withWrk bool
		want    []string
	}{
		{0, true, []string{peerOurs, peerWrk}},
		{1, true, []string{peerWrk, peerOurs}},
		{2, true, []string{peerOurs, peerWrk}},
		{3, true, []string{peerWrk, peerOurs}},
		{0, false, []string{peerOurs}},
		{1, false, []string{peerOurs}},
	} {
		assert.Equal(t, tc.want, lgOrder(tc.round, tc.withWrk), "round %d, wrk %v", tc.round, tc.withWrk)
	}
}

func TestMedian(t *testing.T) {
	assert.Equal(t, 0.0, median([]float64(nil)))
	assert.Equal(t, 3.0, median([]float64{3}))
	assert.Equal(t, 2.5, median([]float64{4, 1}))
	assert.Equal(t, 30.0, median([]float64{50, 10, 30, 20, 40}))
	assert.Equal(t, 250*time.Microsecond, median([]time.Duration{300 * time.Microsecond, 200 * time.Microsecond, 100 * time.Microsecond, 400 * time.Microsecond}))
	v := []float64{3, 1, 2}
	median(v)
	assert.Equal(t, []float64{3, 1, 2}, v, "the input is not sorted in place")
}

const wrkReport = `Running 5s test @ http://127.0.0.1:37657/health/live
  2 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.24ms    4.70ms  74.91ms   95.93%
    Req/Sec    16.11k     2.62k   21.02k    71.00%
  Latency Distribution
     50%  236.00us
     75%  382.00us
     90%    1.05ms
     99%   26.10ms
  160335 requests in 5.11s, 21.25MB read
Requests/sec:  31403.48
Transfer/sec:      4.16MB
`

func TestParseWrk(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      lgRun
		err       string
	}{
		{"report", wrkReport, lgRun{rps: 31403.48, p50: 236 * time.Microsecond, p99: 26100 * time.Microsecond}, ""},
		{"seconds", strings.Replace(wrkReport, "26.10ms", "1.50s", 1), lgRun{rps: 31403.48, p50: 236 * time.Microsecond, p99: 1500 * time.Millisecond}, ""},
		{"no --latency", strings.Split(wrkReport, "  Latency Distribution")[0] + "Requests/sec:  31403.48\n", lgRun{}, "incomplete wrk output"},
		{"not a report", "unable to connect to 127.0.0.1:1 Connection refused\n", lgRun{}, "no Requests/sec"},
		{"non-2xx answers", strings.Replace(wrkReport, "Requests/sec", "  Non-2xx or 3xx responses: 12\nRequests/sec", 1), lgRun{}, "12 answers were not 2xx or 3xx"},
		{"socket errors", strings.Replace(wrkReport, "Requests/sec", "  Socket errors: connect 0, read 3, write 0, timeout 1\nRequests/sec", 1), lgRun{},
			"socket errors: connect 0, read 3, write 0, timeout 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseWrk(tc.out)
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.InDelta(t, tc.want.rps, got.rps, 0.001)
			assert.Equal(t, tc.want.p50, got.p50)
			assert.Equal(t, tc.want.p99, got.p99)
		})
	}
}

func TestParseServed(t *testing.T) {
	const head = "# HELP erlmcp_requests_total HTTP requests served, by path and status code.\n# TYPE erlmcp_requests_total counter\n"
	for _, tc := range []struct {
		name, metrics string
		want          int64
		err           string
	}{
		{"the series", head + `erlmcp_requests_total{code="200",path="/health/live"} 145921` + "\n", 145921, ""},
		{"float notation, labels in another order, other series", head +
			`erlmcp_requests_total{code="503",path="/health/live"} 7` + "\n" +
			`erlmcp_requests_total{code="200",path="/metrics"} 9` + "\n" +
			`erlmcp_requests_total{path="/health/live",code="200"} 1.234567e+06` + "\n", 1234567, ""},
		{"no such series", head + `erlmcp_requests_total{code="200",path="/metrics"} 1` + "\n", 0, `no erlmcp_requests_total{code="200",path="/health/live"}`},
		{"not erlmcpd's metrics", "go_goroutines 7\n", 0, "no erlmcp_requests_total"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseServed(tc.metrics, "/health/live")
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestRatioCell: the ratio of the medians, then the ratio per round; a round
// where either run failed has none.
func TestRatioCell(t *testing.T) {
	rps := func(o lgRun) float64 { return o.rps }
	s := &lgSection{}
	ours := []lgRun{{rps: 90}, {rps: 110}, {rps: 100}}
	wrk := []lgRun{{rps: 100}, {rps: 100}, {rps: 125}}
	assert.Equal(t, "**1.00** (rounds: 0.90, 1.10, 0.80)", s.ratioCell(ours, wrk, rps))
	ours[1].err = assert.AnError
	assert.Equal(t, "**0.95** (rounds: 0.90, —, 0.80)", s.ratioCell(ours, wrk, rps))
	assert.Equal(t, "—", (&lgSection{noWrk: true}).ratioCell(ours, wrk, rps))
	assert.Equal(t, "**100** (runs: 100, 100, 125)", rateCell(wrk, rps))
	assert.Equal(t, "**95** (runs: 90, bench error, 100)", rateCell(ours, rps))
}
