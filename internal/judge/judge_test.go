package judge_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/org/erlmcp-deploy/internal/judge"
)

// Published values: scipy.stats.mannwhitneyu's documentation example
// (males = [19, 22, 16, 29, 24], females = [20, 11, 17, 12]): U = 17;
// exact two-sided p = 0.1111 (exact one-sided 'greater' p = 0.0556, halved);
// with method="asymptotic" the two-sided p = 0.11134688653314041. The other
// values below were checked against scipy 1.10 (Debian's python3-scipy).
var (
	males   = []float64{19, 22, 16, 29, 24}
	females = []float64{20, 11, 17, 12}
)

func TestPureMannWhitneyPublishedValues(t *testing.T) {
	r := judge.MannWhitney(females, males) // males are the "canary": U counts pairs where a male value is larger
	assert.Equal(t, 17.0, r.U)
	assert.True(t, r.Exact)
	assert.InDelta(t, 2*0.05555555555555555, r.P, 1e-12)

	// The other way round: U' = n1·n2 - U = 3, the same two-sided p.
	r2 := judge.MannWhitney(males, females)
	assert.Equal(t, 3.0, r2.U)
	assert.InDelta(t, r.P, r2.P, 1e-12)

	// With a tie the exact distribution no longer applies: the normal
	// approximation with tie and continuity corrections.
	tied := judge.MannWhitney([]float64{20, 11, 17, 12}, []float64{19, 22, 16, 29, 20})
	assert.False(t, tied.Exact)
	assert.InDelta(t, 16.5, tied.U, 1e-12)
	assert.InDelta(t, 0.1399825237583975, tied.P, 1e-12, "scipy.stats.mannwhitneyu(..., alternative='two-sided') = 0.1399825237583975")
}

func TestPureMannWhitneyAsymptotic(t *testing.T) {
	// 9 × 9 = 81 pairs > the exact limit: the normal approximation. Disjoint
	// samples give U = 81 and z = (81 - 40.5 - 0.5) / sqrt(9·9·19/12).
	x := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9}
	y := []float64{11, 12, 13, 14, 15, 16, 17, 18, 19}
	r := judge.MannWhitney(x, y)
	assert.False(t, r.Exact)
	assert.Equal(t, 81.0, r.U)
	z := 40.0 / math.Sqrt(81.0*19/12)
	assert.InDelta(t, math.Erfc(z/math.Sqrt2), r.P, 1e-12)
	assert.InDelta(t, 0.00041229480206169127, r.P, 1e-15, "scipy.stats.mannwhitneyu(y, x, method='asymptotic')")
	assert.InDelta(t, 10.0, r.Shift, 1e-12, "Hodges–Lehmann shift: every y is 10 above its x")
}

func TestPureCompare(t *testing.T) {
	base := []float64{0.010, 0.012, 0.011, 0.009, 0.010, 0.011, 0.012, 0.010, 0.011, 0.009}
	worse := []float64{0.052, 0.049, 0.055, 0.050, 0.051, 0.048, 0.053, 0.050, 0.052, 0.049}
	same := []float64{0.011, 0.010, 0.012, 0.009, 0.010, 0.011, 0.010, 0.012, 0.011, 0.010}
	slightly := []float64{0.0105, 0.0125, 0.0115, 0.0095, 0.0105, 0.0115, 0.0125, 0.0105, 0.0115, 0.0095} // +5 %, consistently
	better := []float64{0.002, 0.001, 0.002, 0.003, 0.001, 0.002, 0.002, 0.001, 0.003, 0.002}
	tests := []struct {
		name         string
		base, canary []float64
		c            judge.Criteria
		want         judge.Outcome
	}{
		{"5x the error rate fails", base, worse, judge.Criteria{Direction: judge.Increase}, judge.Fail},
		{"twin: the same distribution passes", base, same, judge.Criteria{Direction: judge.Increase}, judge.Pass},
		{"twin: a real but 5% change is under the 10% effect size", base, slightly, judge.Criteria{Direction: judge.Increase, Confidence: 0.5}, judge.Pass},
		{"better in the good direction passes", base, better, judge.Criteria{Direction: judge.Increase}, judge.Pass},
		{"better is bad when lower is worse", base, better, judge.Criteria{Direction: judge.Decrease}, judge.Fail},
		{"too few samples is no data, never a pass", base[:2], worse, judge.Criteria{}, judge.NoData},
		{"NaN samples (no requests) do not count", []float64{math.NaN(), math.NaN(), 1}, worse, judge.Criteria{}, judge.NoData},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := judge.Compare(tc.base, tc.canary, tc.c)
			assert.Equal(t, tc.want, v.Outcome, v.Reason)
			assert.NotEmpty(t, v.Reason)
		})
	}
}
