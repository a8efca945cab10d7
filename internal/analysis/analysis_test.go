package analysis_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/analysis"
)

const good = `interval: 30s
count: 4
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
	assert.Equal(t, 30*time.Second, time.Duration(s.Interval))
	assert.Equal(t, 0.98, s.Metrics[1].Judge.Confidence, "the judge's defaults are set")
	assert.Equal(t, 5, s.Metrics[1].Judge.MinSamples, "the fewest a side that can reach α = 0.02")
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
	windows []window // every range query's from and to
}

type window struct{ from, to time.Time }

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

func (f *fake) Range(_ context.Context, q string, from, to time.Time, _ time.Duration) ([]float64, error) {
	f.windows = append(f.windows, window{from, to})
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
				ms = append(ms, s.Measure(context.Background(), tc.src, analysis.Target{Namespace: "n", Deployment: "d"}, at, at.Add(time.Duration(i)*time.Minute), i == tc.count)...)
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

// A judge that cannot reach its α is an error in the file, at the metric's line, naming the smallest size that can.
func TestPureParseJudgeCanFail(t *testing.T) {
	const head = "interval: 10s\ncount: %d\nmetrics:\n  - name: latency\n    query: l{track=\"{{track}}\"}\n    judge: %s\n"
	for _, tc := range []struct {
		name  string
		count int
		judge string
		want  string // "" : accepted
	}{
		{"3 a side at α = 0.02 is refused, naming 5", 3, "{}",
			`a.yaml:4: metric "latency": its judge compares 3 samples a side per step (count 3 × interval 10s ÷ judge.step 10s), and the smallest two-sided Mann–Whitney p for 3 a side is 0.1, not below α = 0.02 (confidence 0.98): it could never fail; it needs at least 5 a side: count 5 at this interval and step`},
		{"4 a side at α = 0.02 is refused (smallest p 0.029)", 4, "{}", "the smallest two-sided Mann–Whitney p for 4 a side is 0.02857, not below α = 0.02"},
		{"twin: 5 a side at α = 0.02 is fine", 5, "{}", ""},
		{"4 a side at α = 0.05 is fine", 4, "{confidence: 0.95}", ""},
		{"3 a side at α = 0.05 is refused, naming 4", 3, "{confidence: 0.95}", "not below α = 0.05 (confidence 0.95): it could never fail; it needs at least 4 a side: count 4"},
		{"a shorter step gives 6 a side", 3, "{step: 5s}", ""},
		{"minSamples above what a step gives never has data", 3, "{step: 2s, minSamples: 20}", "compares 15 samples a side per step (count 3 × interval 10s ÷ judge.step 2s), and judge.minSamples is 20: it would never have data; it needs at least 20 a side: count 4 at this interval and step, a shorter judge.step, or a lower judge.minSamples"},
		{"minSamples below what α needs is refused", 30, "{minSamples: 3}", `a.yaml:4: metric "latency": judge.minSamples 3 cannot reach confidence 0.98: with 3 a side the smallest Mann–Whitney p is 0.1, not below 0.02; at least 5 can`},
		{"twin: minSamples 4 at α = 0.05", 30, "{minSamples: 4, confidence: 0.95}", ""},
		{"confidence 1 is refused", 30, "{confidence: 1}", "judge.confidence 1 must be between 0 and 1"},
		{"confidence as a percentage is refused", 30, "{confidence: 98}", "judge.confidence 98 must be between 0 and 1"},
		{"a negative effect size is refused", 30, "{effectSize: -0.1}", "judge.effectSize -0.1 must be more than 0"},
		{"a decrease of more than 100% cannot happen", 30, "{direction: decrease, effectSize: 2}", "judge.effectSize 2 with direction decrease could never fail"},
		{"twin: an increase of 200% can", 30, "{direction: increase, effectSize: 2}", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := analysis.Parse("a.yaml", []byte(fmt.Sprintf(head, tc.count, tc.judge)))
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			var fe *analysis.FileError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, 4, fe.Line, "the metric's line")
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	for _, tc := range []struct{ name, text, want string }{
		{"a judge's failureLimit would never fail", "metrics:\n  - name: l\n    query: up\n    judge: {}\n    failureLimit: 2\n",
			`a.yaml:2: metric "l": a judge compares once per step, so failureLimit 2 would let it never fail`},
		{"a judge's inconclusiveLimit would pass without data", "metrics:\n  - name: l\n    query: up\n    judge: {}\n    inconclusiveLimit: 1\n",
			`a.yaml:2: metric "l": a judge compares once per step, so inconclusiveLimit 1 would pass a step without its data`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := analysis.Parse("a.yaml", []byte(tc.text))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// CheckSamples: the samples per step with the action's canary-interval and canary-analysis-count.
func TestPureCheckSamples(t *testing.T) {
	const judgeOnly = "metrics:\n  - name: errors\n    query: e{track=\"{{track}}\"}\n    max: 0.1\n  - name: latency\n    query: l{track=\"{{track}}\"}\n    judge: %s\n"
	for _, tc := range []struct {
		name     string
		file     string
		interval time.Duration
		count    int
		want     string // "": enough
	}{
		{"the action's defaults (1m × 3 at 10s: 18 a side)", fmt.Sprintf(judgeOnly, "{}"), time.Minute, 3, ""},
		{"3 a side from the inputs at α = 0.02 is refused, naming 5", fmt.Sprintf(judgeOnly, "{}"), 10 * time.Second, 3,
			`a.yaml:5: metric "latency": its judge compares 3 samples a side per step (count 3 (canary-analysis-count) × interval 10s (canary-interval) ÷ judge.step 10s), and the smallest two-sided Mann–Whitney p for 3 a side is 0.1, not below α = 0.02 (confidence 0.98): it could never fail; it needs at least 5 a side: count 5 at this interval and step`},
		{"4 a side from the inputs at α = 0.05 is fine", fmt.Sprintf(judgeOnly, "{confidence: 0.95}"), 10 * time.Second, 4, ""},
		{"the smallest count is rounded up (7s × 3 at 10s: 2 a side; 8 give 5)", fmt.Sprintf(judgeOnly, "{}"), 7 * time.Second, 3, "compares 2 samples a side per step (count 3 (canary-analysis-count) × interval 7s (canary-interval) ÷ judge.step 10s), and the smallest two-sided Mann–Whitney p for 2 a side is 0.3333, not below α = 0.02 (confidence 0.98): it could never fail; it needs at least 5 a side: count 8"},
		{"the file's count wins over the input's", "count: 2\n" + fmt.Sprintf(judgeOnly, "{}"), 10 * time.Second, 100, "(count 2 × interval 10s (canary-interval) ÷ judge.step 10s)"},
		{"the file's interval wins over the input's", "interval: 1s\n" + fmt.Sprintf(judgeOnly, "{}"), time.Minute, 3, "(count 3 (canary-analysis-count) × interval 1s ÷ judge.step 10s)"},
		{"thresholds only: nothing to check", "metrics:\n  - name: errors\n    query: e\n    max: 0.1\n", time.Second, 1, ""},
		{"an invalid input is the input's error, not this one", fmt.Sprintf(judgeOnly, "{}"), 0, 3, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := analysis.Parse("a.yaml", []byte(tc.file))
			require.NoError(t, err, "the file alone does not decide the samples")
			err = s.CheckSamples(tc.interval, tc.count)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			var fe *analysis.FileError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, "a.yaml", fe.File)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	assert.Equal(t, 18, analysis.SamplesPerStep(time.Minute, 3, 10*time.Second))
	assert.Equal(t, 0, analysis.SamplesPerStep(time.Minute, 3, 0))
}

// A step's measurements: thresholds every time, a judge once, at the last,
// on the samples from the step's start (not a growing window re-tested).
func TestPureJudgeOncePerStep(t *testing.T) {
	s, err := analysis.Parse("a.yaml", []byte("metrics:\n  - name: errors\n    query: e{track=\"{{track}}\"}\n    max: 0.1\n  - name: latency\n    query: l{track=\"{{track}}\"}\n    judge: {}\n"))
	require.NoError(t, err)
	src := &fake{instant: map[string][]float64{"canary": {0.01}},
		ranges: map[string][]float64{"baseline": {1, 1.1, 0.9, 1, 1.05, 0.95}, "canary": {1, 1.05, 0.95, 1, 1.1, 0.9}}}
	stepStart := time.Unix(1000, 0)
	var ms []analysis.Measurement
	var last time.Time
	for i := 1; i <= 3; i++ {
		last = stepStart.Add(time.Duration(i) * time.Minute)
		got := s.Measure(context.Background(), src, analysis.Target{}, stepStart, last, i == 3)
		ms = append(ms, got...)
		if i < 3 {
			assert.Len(t, got, 1, "measurement %d: the threshold only", i)
			assert.Equal(t, analysis.Outcome(""), s.Conclude(ms, false).Outcome, "under way")
		}
	}
	assert.Equal(t, []window{{stepStart, last}, {stepStart, last}}, src.windows, "one look per step, canary and baseline, over the step's window")
	res := s.Conclude(ms, true)
	assert.Equal(t, analysis.Pass, res.Outcome, res.Reason)
	assert.Equal(t, 3, res.Metrics[0].Passed)
	assert.Equal(t, 1, res.Metrics[1].Passed)
	assert.Contains(t, res.Metrics[1].Last.Reason, "6 baseline and 6 canary samples")

	// Complete without the judge's look (the loop ended early): never measured is inconclusive, never a pass.
	res = s.Conclude(ms[:1], true)
	assert.Equal(t, analysis.Inconclusive, res.Outcome)
	assert.Contains(t, res.Reason, "latency (never measured)")
}

// The judge's edge cases through one step's look.
func TestPureJudgeEdgeCases(t *testing.T) {
	base := []float64{0.010, 0.012, 0.011, 0.009, 0.013, 0.010}
	times50 := []float64{0.50, 0.60, 0.55, 0.45, 0.65, 0.50}
	zeros := []float64{0, 0, 0, 0, 0, 0}
	for _, tc := range []struct {
		name         string
		judge        string
		base, canary []float64
		want         analysis.Outcome
		reason       string
	}{
		{"a canary 50x worse with 6 a side fails", "{}", base, times50, analysis.Fail, "significantly worse at 98% confidence"},
		{"a canary 50x worse with 3 a side (scrapes missing) is no data, never a pass", "{}", base[:3], times50[:3], analysis.Inconclusive, "not enough data: 3 baseline and 3 canary samples (at least 5 each)"},
		{"a canary 50x worse with 4 a side at α = 0.05 fails", "{confidence: 0.95}", base[:4], times50[:4], analysis.Fail, "p=0.02857"},
		{"every value tied passes: no evidence of a difference", "{}", []float64{3, 3, 3, 3, 3}, []float64{3, 3, 3, 3, 3}, analysis.Pass, "p=1: no significant difference"},
		{"zero baseline, zero canary passes", "{direction: either}", zeros, zeros, analysis.Pass, "p=1"},
		{"zero baseline, errors in the canary fail whatever the effect size", "{effectSize: 3}", zeros, []float64{0, 0.02, 0.03, 0.05, 0.04, 0.02}, analysis.Fail, "(from a baseline of 0), Mann–Whitney p=0.01515"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := analysis.Parse("a.yaml", []byte("metrics:\n  - name: l\n    query: l{track=\"{{track}}\"}\n    judge: "+tc.judge+"\n"))
			require.NoError(t, err)
			src := &fake{ranges: map[string][]float64{"baseline": tc.base, "canary": tc.canary}}
			at := time.Unix(0, 0)
			ms := s.Measure(context.Background(), src, analysis.Target{}, at, at.Add(time.Minute), true)
			require.Len(t, ms, 1)
			assert.False(t, math.IsInf(ms[0].Value, 0), "the canary's median")
			res := s.Conclude(ms, true)
			assert.Equal(t, tc.want, res.Outcome, res.Reason)
			assert.Contains(t, res.Metrics[0].Last.Reason, tc.reason)
		})
	}
}
