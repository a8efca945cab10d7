package analysis_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/analysis"
)

const good = `interval: 10s
count: 3
metrics:
  - name: error-rate
    query: sum(rate(http_requests_total{track="{{track}}",code=~"5.."}[1m])) / sum(rate(http_requests_total{track="{{track}}"}[1m]))
    max: 0.01
    failureLimit: 1
  - name: latency
    query: histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{track="{{track}}"}[1m])))
    judge: {direction: increase, effectSize: 0.2}
`

func TestPureParse(t *testing.T) {
	s, err := analysis.Parse("analysis.yaml", []byte(good))
	require.NoError(t, err)
	assert.Equal(t, 10*time.Second, time.Duration(s.Interval))
	assert.Equal(t, "abort", s.Inconclusive)
	assert.Equal(t, "inconclusive", s.Metrics[0].NoData, "no data is inconclusive unless said otherwise")
	assert.True(t, s.NeedsBaseline())
	assert.Equal(t, `rate(x{track="canary",ns="erlmcp"}[1m])`, analysis.Render(`rate(x{track="{{track}}",ns="{{namespace}}"}[1m])`, "canary", "erlmcp", "erlmcp"))

	for _, tc := range []struct{ name, text, want string }{
		{"no criterion", "metrics:\n  - name: a\n    query: up\n", "analysis.yaml:2: metric \"a\" needs max, min or judge"},
		{"both kinds", "metrics:\n  - name: a\n    query: up\n    max: 1\n    judge: {}\n", "analysis.yaml:2: metric \"a\": give either max/min"},
		{"no data as a pass", "metrics:\n  - name: a\n    query: up\n    max: 1\n    noData: pass\n", "no data is never a pass"},
		{"unknown key", "metrics:\n  - name: a\n    query: up\n    maximum: 1\n", "field maximum not found"},
		{"bad duration", "interval: soon\nmetrics:\n  - name: a\n    query: up\n    max: 1\n", "line 1: \"soon\" is not a duration"},
		{"twice", "metrics:\n  - name: a\n    query: up\n    max: 1\n  - name: a\n    query: up\n    max: 1\n", "analysis.yaml:5: metric \"a\" is listed twice"},
		{"empty", "interval: 10s\n", "no metrics"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := analysis.Parse("analysis.yaml", []byte(tc.text))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// fake answers each track's queries from a table.
type fake struct {
	instant map[string][]float64 // track → successive values (NaN: no data)
	ranges  map[string][]float64
	err     error
	calls   map[string]int
}

func (f *fake) track(q string) string {
	for _, t := range []string{"canary", "baseline", "stable"} {
		if strings.Contains(q, `"`+t+`"`) {
			return t
		}
	}
	return ""
}

func (f *fake) Instant(_ context.Context, q string, _ time.Time) (float64, bool, error) {
	if f.err != nil {
		return 0, false, f.err
	}
	tr := f.track(q)
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	vals := f.instant[tr]
	i := f.calls[tr]
	f.calls[tr]++
	if i >= len(vals) {
		i = len(vals) - 1
	}
	if i < 0 || math.IsNaN(vals[i]) {
		return 0, false, nil
	}
	return vals[i], true, nil
}

func (f *fake) Range(_ context.Context, q string, _, _ time.Time, _ time.Duration) ([]float64, error) {
	if f.err != nil {
		return nil, f.err
	}
	return f.ranges[f.track(q)], nil
}

func TestPureMeasureAndConclude(t *testing.T) {
	spec := func(text string) *analysis.Spec {
		s, err := analysis.Parse("a.yaml", []byte(text))
		require.NoError(t, err)
		return s
	}
	errRate := "metrics:\n  - name: error-rate\n    query: x{track=\"{{track}}\"}\n    max: 0.01\n    failureLimit: 1\n"
	nan := math.NaN()
	steady := []float64{0.010, 0.011, 0.009, 0.010, 0.012, 0.011, 0.010, 0.009, 0.011, 0.010}
	tests := []struct {
		name  string
		spec  string
		src   *fake
		count int
		want  analysis.Outcome
		early int // the measurement after which it concluded (0: all)
	}{
		{"a healthy canary passes", errRate, &fake{instant: map[string][]float64{"canary": {0.001, 0.002, 0.001}}}, 3, analysis.Pass, 0},
		{"twin: one spike within the failure limit passes", errRate, &fake{instant: map[string][]float64{"canary": {0.001, 0.05, 0.001}}}, 3, analysis.Pass, 0},
		{"a breach beyond the limit fails as soon as it is seen", errRate, &fake{instant: map[string][]float64{"canary": {0.05, 0.06, 0.001}}}, 3, analysis.Fail, 2},
		{"no data is inconclusive, never a pass", errRate, &fake{instant: map[string][]float64{"canary": {nan}}}, 3, analysis.Inconclusive, 0},
		{"noData: fail", errRate + "    noData: fail\n", &fake{instant: map[string][]float64{"canary": {nan}}}, 3, analysis.Fail, 2},
		{"Prometheus down is no data", errRate, &fake{err: errors.New("connection refused")}, 3, analysis.Inconclusive, 0},
		{"twin: a late first scrape within the inconclusive limit", errRate + "    inconclusiveLimit: 1\n",
			&fake{instant: map[string][]float64{"canary": {nan, 0.001, 0.001}}}, 3, analysis.Pass, 0},
		{"a critical metric fails at its first breach", "metrics:\n  - name: e\n    query: x{track=\"{{track}}\"}\n    max: 0.01\n    failureLimit: 5\n    critical: true\n",
			&fake{instant: map[string][]float64{"canary": {0.5}}}, 3, analysis.Fail, 1},
		{"judge: a canary 5x worse than its baseline fails", "metrics:\n  - name: l\n    query: l{track=\"{{track}}\"}\n    judge: {}\n",
			&fake{ranges: map[string][]float64{"baseline": steady, "canary": {0.05, 0.051, 0.049, 0.05, 0.052, 0.05, 0.048, 0.05, 0.051, 0.05}}}, 1, analysis.Fail, 1},
		{"twin: judge passes a canary like its baseline", "metrics:\n  - name: l\n    query: l{track=\"{{track}}\"}\n    judge: {}\n",
			&fake{ranges: map[string][]float64{"baseline": steady, "canary": {0.011, 0.010, 0.010, 0.012, 0.009, 0.010, 0.011, 0.010, 0.011, 0.009}}}, 1, analysis.Pass, 0},
		{"judge without a baseline's data is inconclusive", "metrics:\n  - name: l\n    query: l{track=\"{{track}}\"}\n    judge: {}\n",
			&fake{ranges: map[string][]float64{"canary": steady}}, 1, analysis.Inconclusive, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := spec(tc.spec)
			var ms []analysis.Measurement
			var res analysis.Result
			at := time.Unix(0, 0)
			for i := 1; i <= tc.count; i++ {
				ms = append(ms, s.Measure(context.Background(), tc.src, analysis.Target{Namespace: "n", Deployment: "d"}, at, at.Add(time.Duration(i)*time.Minute))...)
				res = s.Conclude(ms, i == tc.count)
				if res.Outcome != "" {
					if tc.early > 0 {
						assert.Equal(t, tc.early, i, "concluded after measurement %d", i)
					}
					break
				}
			}
			assert.Equal(t, tc.want, res.Outcome, res.Reason)
			assert.NotEmpty(t, res.Reason)
		})
	}
}
