package judge_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/org/erlmcp-deploy/internal/judge"
)

// The reference values below come from scipy 1.10.1 (Debian bookworm's
// python3-scipy): testdata/scipy_reference.py computed them and
// testdata/scipy_reference.txt is its output. The published one is
// scipy.stats.mannwhitneyu's documentation example (males = [19, 22, 16,
// 29, 24], females = [20, 11, 17, 12]): U = 17, exact two-sided p = 0.1111.
var (
	males   = []float64{19, 22, 16, 29, 24}
	females = []float64{20, 11, 17, 12}
)

func TestPureMannWhitneyPublishedValues(t *testing.T) {
	r := judge.MannWhitney(females, males) // males are the "canary": U counts pairs where a male value is larger
	assert.Equal(t, 17.0, r.U)
	assert.True(t, r.Exact)
	assert.InDelta(t, 0.1111111111111111, r.P, 1e-12)

	// The other way round: U' = n1·n2 - U = 3, the same two-sided p.
	r2 := judge.MannWhitney(males, females)
	assert.Equal(t, 3.0, r2.U)
	assert.InDelta(t, r.P, r2.P, 1e-12)
}

// TestPureMannWhitneyScipy: U and the two-sided p of named samples, ties or
// not, against scipy (exact up to n1·n2 = 400: mannwhitneyu(method='exact')
// without ties, permutation_test over every split with them; beyond it
// mannwhitneyu(method='asymptotic')).
func TestPureMannWhitneyScipy(t *testing.T) {
	bigBase := []float64{0.114, 0.103, 0.088, 0.098, 0.097, 0.098, 0.106, 0.087, 0.11, 0.089, 0.098, 0.109, 0.107, 0.093, 0.118, 0.104, 0.09, 0.1, 0.092, 0.104, 0.087, 0.105, 0.082, 0.111, 0.103}
	bigCan := []float64{0.122, 0.101, 0.087, 0.094, 0.106, 0.128, 0.114, 0.121, 0.099, 0.103, 0.105, 0.12, 0.102, 0.105, 0.124, 0.099, 0.108, 0.095, 0.106, 0.116, 0.12, 0.094, 0.083, 0.113, 0.125}
	seq := func(from, to float64) []float64 {
		var out []float64
		for v := from; v <= to; v++ {
			out = append(out, v)
		}
		return out
	}
	tests := []struct {
		name         string
		base, canary []float64
		u, p         float64
		exact        bool
	}{
		{"published", females, males, 17, 0.1111111111111111, true},
		{"published with a tie: exact given the mid-ranks", females, []float64{19, 22, 16, 29, 20}, 16.5, 0.12698412698412698, true},
		{"every value tied: no evidence, p = 1", []float64{5, 5, 5}, []float64{5, 5, 5}, 4.5, 1, true},
		{"all zero: p = 1", []float64{0, 0, 0, 0, 0}, []float64{0, 0, 0, 0, 0}, 12.5, 1, true},
		{"each side tied, apart, 4 a side: the untied minimum", []float64{0, 0, 0, 0}, []float64{1, 1, 1, 1}, 16, 0.02857142857142857, true},
		{"each side tied, apart, 3 a side", []float64{0, 0, 0}, []float64{1, 1, 1}, 9, 0.1, true},
		{"zero baseline", []float64{0, 0, 0, 0, 0, 0}, []float64{0, 0.02, 0.03, 0.05, 0.04, 0.02}, 33, 0.015151515151515152, true},
		{"mostly zero baseline", []float64{0, 0, 0, 0.01, 0, 0, 0}, []float64{0.02, 0.03, 0, 0.05, 0.04, 0.02, 0.03}, 45, 0.004662004662004662, true},
		{"ties, unequal sizes", []float64{1, 2, 2, 3}, []float64{2, 3, 3, 3, 4, 5}, 20.5, 0.12380952380952381, true},
		{"50x worse, 3 a side", []float64{0.010, 0.012, 0.011}, []float64{0.5, 0.6, 0.55}, 9, 0.1, true},
		{"50x worse, 5 a side", []float64{0.010, 0.012, 0.011, 0.009, 0.013}, []float64{0.5, 0.6, 0.55, 0.45, 0.65}, 25, 0.007936507936507936, true},
		{"interleaved, 8 a side", []float64{1, 3, 5, 7, 9, 11, 13, 15}, []float64{2, 4, 6, 8, 10, 12, 14, 16}, 36, 0.7209013209013209, true},
		{"25 a side: normal approximation", bigBase, bigCan, 428.5, 0.024937111083359165, false},
		{"21 a side with 11 ties: normal approximation", seq(0, 20), seq(10, 30), 380.5, 5.966547470004145e-05, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := judge.MannWhitney(tc.base, tc.canary)
			assert.InDelta(t, tc.u, r.U, 1e-9)
			assert.InDelta(t, tc.p, r.P, 1e-12*math.Max(1, tc.p))
			assert.Equal(t, tc.exact, r.Exact)
			assert.Equal(t, len(tc.base), r.N1)
		})
	}
	assert.InDelta(t, 10.0, judge.MannWhitney(seq(1, 9), seq(11, 19)).Shift, 1e-12, "Hodges–Lehmann shift: every y is 10 above its x")
}

// TestPureMinP: the smallest two-sided p for sizes (n1, n2) is scipy's p for
// two samples that do not overlap (exact: 2/C(n1+n2, n1)).
func TestPureMinP(t *testing.T) {
	tests := []struct {
		n1, n2 int
		p      float64
	}{
		{1, 1, 1.0},
		{2, 2, 0.3333333333333333},
		{3, 3, 0.1},
		{4, 4, 0.02857142857142857},
		{5, 5, 0.007936507936507936},
		{6, 6, 0.0021645021645021645},
		{7, 7, 0.0005827505827505828},
		{8, 8, 0.0001554001554001554},
		{3, 4, 0.05714285714285714},
		{4, 6, 0.009523809523809525},
		{2, 10, 0.030303030303030304},
		{3, 5, 0.03571428571428571},
		{10, 10, 1.082508822446903e-05},
		{20, 20, 1.4508889103849684e-11},
		{8, 50, 1.0434071398799036e-09},
		{21, 21, 3.125399998400872e-08}, // asymptotic from here
		{30, 30, 3.019859359162157e-11},
		{5, 100, 0.00017386098004040516},
		{0, 5, 1},
	}
	for _, tc := range tests {
		assert.InDelta(t, tc.p, judge.MinP(tc.n1, tc.n2), 1e-12*tc.p, "%d×%d", tc.n1, tc.n2)
		assert.InDelta(t, tc.p, judge.MinP(tc.n2, tc.n1), 1e-12*tc.p, "%d×%d", tc.n2, tc.n1)
	}
}

// TestPureMinSamples: the smallest n a side whose MinP is below α (scipy:
// the first n whose non-overlapping samples give p < α).
func TestPureMinSamples(t *testing.T) {
	tests := []struct {
		alpha float64
		n     int
	}{
		{0.5, 2},
		{0.2, 3},
		{0.1, 4}, // 3 a side gives exactly 0.1: not below
		{0.05, 4},
		{0.02, 5}, // the default confidence 0.98: 3 a side (0.1) and 4 (0.029) cannot fail
		{0.01, 5},
		{0.001, 7},
		{0.0001, 9},
		{0, 0},
		{-1, 0},
		{math.NaN(), 0},
	}
	for _, tc := range tests {
		n := judge.MinSamples(tc.alpha)
		assert.Equal(t, tc.n, n, "α = %g", tc.alpha)
		if n > 1 {
			assert.Less(t, judge.MinP(n, n), tc.alpha)
			assert.GreaterOrEqual(t, judge.MinP(n-1, n-1), tc.alpha)
		}
	}
	// Far beyond the exact limit's edge, where the two methods meet, it still holds for every larger n.
	n := judge.MinSamples(1e-9)
	for m := n; m < n+40; m++ {
		assert.Less(t, judge.MinP(m, m), 1e-9, "%d a side", m)
	}
}

func TestPureCompare(t *testing.T) {
	base := []float64{0.010, 0.012, 0.011, 0.009, 0.010, 0.011, 0.012, 0.010, 0.011, 0.009}
	worse := []float64{0.052, 0.049, 0.055, 0.050, 0.051, 0.048, 0.053, 0.050, 0.052, 0.049}
	same := []float64{0.011, 0.010, 0.012, 0.009, 0.010, 0.011, 0.010, 0.012, 0.011, 0.010}
	slightly := []float64{0.0105, 0.0125, 0.0115, 0.0095, 0.0105, 0.0115, 0.0125, 0.0105, 0.0115, 0.0095} // +5 %, consistently
	better := []float64{0.002, 0.001, 0.002, 0.003, 0.001, 0.002, 0.002, 0.001, 0.003, 0.002}
	times50 := func(v []float64) []float64 {
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = 50 * x
		}
		return out
	}
	zeros := []float64{0, 0, 0, 0, 0, 0}
	tests := []struct {
		name         string
		base, canary []float64
		c            judge.Criteria
		want         judge.Outcome
		reason       string
	}{
		{"5x the error rate fails", base, worse, judge.Criteria{Direction: judge.Increase}, judge.Fail, "significantly worse at 98% confidence"},
		{"twin: the same distribution passes", base, same, judge.Criteria{Direction: judge.Increase}, judge.Pass, "no significant difference"},
		{"twin: a real but 5% change is under the 10% effect size", base, slightly, judge.Criteria{Direction: judge.Increase, Confidence: 0.5}, judge.Pass, "smaller than the 10% effect size"},
		{"better in the good direction passes", base, better, judge.Criteria{Direction: judge.Increase}, judge.Pass, "good direction"},
		{"better is bad when lower is worse", base, better, judge.Criteria{Direction: judge.Decrease}, judge.Fail, "significantly worse"},
		{"too few samples is no data, never a pass", base[:2], worse, judge.Criteria{}, judge.NoData, "at least 5 each"},
		{"NaN samples (no requests) do not count", []float64{math.NaN(), math.NaN(), 1}, worse, judge.Criteria{}, judge.NoData, "not enough data"},

		// Sizes that cannot reach α are no data, never a pass — even when minSamples lets them through.
		{"50x worse, 3 a side, α = 0.02: no data (smallest p 0.1)", base[:3], times50(base[:3]), judge.Criteria{MinSamples: 3}, judge.NoData, "smallest Mann–Whitney p is 0.1, not below α = 0.02 (5 each can reach it)"},
		{"50x worse, 4 a side, α = 0.02: no data (smallest p 0.029)", base[:4], times50(base[:4]), judge.Criteria{MinSamples: 4}, judge.NoData, "smallest Mann–Whitney p is 0.02857"},
		{"50x worse, 5 a side, α = 0.02 fails", base[:5], times50(base[:5]), judge.Criteria{}, judge.Fail, "p=0.007937"},
		{"50x worse, 4 a side, α = 0.05 fails", base[:4], times50(base[:4]), judge.Criteria{Confidence: 0.95}, judge.Fail, "p=0.02857"},
		{"3 and 10 samples reach α = 0.02 (smallest p 0.007)", base[:3], times50(base), judge.Criteria{MinSamples: 3}, judge.Fail, "significantly worse"},

		// Ties: one method; everything tied is no difference.
		{"every value tied passes: no evidence", []float64{7, 7, 7, 7, 7}, []float64{7, 7, 7, 7, 7}, judge.Criteria{}, judge.Pass, "p=1: no significant difference"},
		{"all zero on both sides passes", zeros, zeros, judge.Criteria{Direction: judge.Either}, judge.Pass, "p=1"},
		{"each side tied, apart, 4 a side at α = 0.02: no data (as without ties)", zeros[:4], []float64{1, 1, 1, 1}, judge.Criteria{MinSamples: 4}, judge.NoData, "not enough data"},
		{"each side tied, apart, 5 a side: fails", zeros[:5], []float64{1, 1, 1, 1, 1}, judge.Criteria{}, judge.Fail, "from a baseline of 0"},

		// A baseline median of 0: no relative change; any significant change in the bad direction matters.
		{"zero baseline, errors appear: fails at any effect size", zeros, []float64{0, 0.02, 0.03, 0.05, 0.04, 0.02}, judge.Criteria{EffectSize: 5}, judge.Fail, "canary median 0.025 vs baseline 0 (from a baseline of 0), Mann–Whitney p=0.01515"},
		{"zero baseline, canary lower is the good direction", zeros, []float64{0, -0.02, -0.03, -0.05, -0.04, -0.02}, judge.Criteria{}, judge.Pass, "good direction"},
		{"zero baseline, a significant shift that leaves both medians 0 passes", []float64{0, 0, 0, 0, 0, 0, 0, 0, 0}, []float64{0, 0, 0, 0, 0, 0.1, 0.2, 0.3, 0.4}, judge.Criteria{Confidence: 0.9}, judge.Pass, "the median did not move"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := judge.Compare(tc.base, tc.canary, tc.c)
			assert.Equal(t, tc.want, v.Outcome, v.Reason)
			assert.Contains(t, v.Reason, tc.reason)
			assert.False(t, math.IsInf(v.Change, 0) || math.IsNaN(v.Change), "Change %v is finite", v.Change)
		})
	}
}

func TestPureCompareZeroBaselineChange(t *testing.T) {
	zeros := []float64{0, 0, 0, 0, 0, 0}
	v := judge.Compare(zeros, []float64{0, 0.02, 0.03, 0.05, 0.04, 0.02}, judge.Criteria{})
	assert.True(t, v.FromZero)
	assert.Equal(t, 1.0, v.Change, "from 0 the change is the canary's sign, never +Inf")
	v = judge.Compare(zeros, zeros, judge.Criteria{})
	assert.Equal(t, 0.0, v.Change)
	assert.Equal(t, 1.0, v.Test.P)
	v = judge.Compare([]float64{1, 1, 1, 1, 1}, []float64{1.5, 1.5, 1.5, 1.5, 1.5}, judge.Criteria{})
	assert.False(t, v.FromZero)
	assert.InDelta(t, 0.5, v.Change, 1e-12)
}
