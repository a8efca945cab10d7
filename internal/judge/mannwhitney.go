// Package judge compares a canary's samples of a metric with a baseline's,
// as Kayenta's judge does: a Mann–Whitney U test (is the difference real?)
// plus an effect size (is it big enough to matter?). Pure functions.
package judge

import (
	"math"
	"sort"
)

// Test is the outcome of a two-sided Mann–Whitney U test of canary (y)
// against baseline (x).
type Test struct {
	// U is the statistic of the canary sample: how many (x, y) pairs have y > x (ties count ½).
	U float64
	// P is the two-sided p-value.
	P float64
	// Exact: P comes from the exact permutation distribution of U given the
	// samples' mid-ranks (n1·n2 <= ExactLimit, ties or not); otherwise from
	// the normal approximation with tie and continuity corrections.
	Exact  bool
	N1, N2 int
	// Shift is the Hodges–Lehmann estimate of how much larger the canary's
	// values are: the median of every y - x.
	Shift float64
}

// ExactLimit bounds n1·n2 for the exact distribution: up to it (20 a side)
// the p-value is exact, ties or not; beyond it the normal approximation,
// whose smallest p is far below any sensible α there (3·10⁻⁸ at 21 a side).
const ExactLimit = 400

// MannWhitney runs the test; x is the baseline, y the canary. Both must be non-empty.
//
// Ties are handled one way at every size: tied values get their mid-rank.
// With n1·n2 <= ExactLimit the p-value is exact given those ranks: the share
// of the C(n1+n2, n1) ways to split the ranks into the two samples whose U is
// at least as extreme, p = 2·min(P(U <= u), P(U >= u)), at most 1 (without
// ties this is the classic exact test, scipy's mannwhitneyu(method="exact");
// with ties, scipy's permutation_test over every split). Beyond it the normal
// approximation with the tie and continuity corrections (scipy's
// method="asymptotic"). Every value tied (no ranks to compare) is p = 1 both ways.
func MannWhitney(x, y []float64) Test {
	n1, n2 := len(x), len(y)
	t := Test{N1: n1, N2: n2}
	if n1 == 0 || n2 == 0 {
		t.P = math.NaN()
		return t
	}
	type obs struct {
		v      float64
		canary bool
	}
	all := make([]obs, 0, n1+n2)
	for _, v := range x {
		all = append(all, obs{v, false})
	}
	for _, v := range y {
		all = append(all, obs{v, true})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	// Doubled mid-ranks (integers: ranks i+1..j average (i+j+1)/2), the
	// canary's doubled rank sum, and the tie correction term Σ(t³ - t).
	scores := make([]int, len(all))
	var sumY int
	var ties float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		for k := i; k < j; k++ {
			scores[k] = i + j + 1
			if all[k].canary {
				sumY += i + j + 1
			}
		}
		if tn := float64(j - i); tn > 1 {
			ties += tn*tn*tn - tn
		}
		i = j
	}
	fn1, fn2 := float64(n1), float64(n2)
	t.U = float64(sumY)/2 - fn2*(fn2+1)/2
	t.Shift = hodgesLehmann(x, y)
	if n1*n2 <= ExactLimit {
		t.Exact = true
		t.P = exactTwoSided(scores, n2, sumY)
		return t
	}
	mean := fn1 * fn2 / 2
	n := fn1 + fn2
	variance := fn1 * fn2 / 12 * ((n + 1) - ties/(n*(n-1)))
	if variance <= 0 {
		t.P = 1 // every value tied: no evidence of a difference
		return t
	}
	d := math.Abs(t.U-mean) - 0.5 // continuity correction
	if d < 0 {
		d = 0
	}
	z := d / math.Sqrt(variance)
	t.P = math.Min(1, math.Erfc(z/math.Sqrt2))
	return t
}

// exactTwoSided is 2·min(P(S <= s), P(S >= s)), at most 1, where S is the
// sum of k scores drawn without replacement from scores (every k-subset
// equally likely: the null hypothesis) and s the observed sum. U is S/2
// less a constant, so this is the exact two-sided p of U given the ranks.
func exactTwoSided(scores []int, k, s int) float64 {
	if k > len(scores)-k { // count the smaller sample's subsets: the same p
		k = len(scores) - k
		s = total(scores) - s
	}
	top := append([]int(nil), scores...)
	sort.Sort(sort.Reverse(sort.IntSlice(top)))
	maxSum := total(top[:k])
	// ways[j][v]: subsets of j of the scores seen so far whose sum is v.
	ways := make([][]float64, k+1)
	for j := range ways {
		ways[j] = make([]float64, maxSum+1)
	}
	ways[0][0] = 1
	for i, r := range scores {
		for j := min(i+1, k); j >= 1; j-- {
			row, prev := ways[j], ways[j-1]
			for v := maxSum; v >= r; v-- {
				row[v] += prev[v-r]
			}
		}
	}
	var all, le, ge float64
	for v, c := range ways[k] {
		all += c
		if v <= s {
			le += c
		}
		if v >= s {
			ge += c
		}
	}
	return math.Min(1, 2*math.Min(le, ge)/all)
}

func total(v []int) int {
	s := 0
	for _, x := range v {
		s += x
	}
	return s
}

// MinP is the smallest two-sided p-value MannWhitney can give for samples
// of n1 and n2 values, whatever the values: with n1·n2 <= ExactLimit,
// 2/C(n1+n2, n1) (the two most extreme splits; with ties the observed split
// still counts, so never less), else the normal approximation's p for two
// samples that do not overlap (without ties). 1 when a sample is empty.
// A comparison can fail only when MinP < α.
func MinP(n1, n2 int) float64 {
	if n1 < 1 || n2 < 1 {
		return 1
	}
	if n1*n2 <= ExactLimit {
		c := 1.0 // C(n1+n2, n1), exact in float64 for these sizes
		for i := 1; i <= n1; i++ {
			c = c * float64(n2+i) / float64(i)
		}
		return math.Min(1, 2/c)
	}
	fn1, fn2 := float64(n1), float64(n2)
	z := (fn1*fn2/2 - 0.5) / math.Sqrt(fn1*fn2*(fn1+fn2+1)/12)
	return math.Erfc(z / math.Sqrt2)
}

// MinSamples is the smallest n such that n values a side (and any more)
// can reach a two-sided p below alpha: MinP(m, m) < alpha for every m >= n.
// 0 when alpha is not in (0, 1]. At alpha 0.05 it is 4, at 0.02 (the default
// confidence 0.98) 5, at 0.01 5, at 0.001 7.
func MinSamples(alpha float64) int {
	if !(alpha > 0 && alpha <= 1) {
		return 0
	}
	last := 0 // the largest n that cannot
	for n := 1; ; n++ {
		p := MinP(n, n)
		if p >= alpha {
			last = n
		} else if n*n > ExactLimit {
			// the normal approximation's MinP(n, n) falls as n grows
			return last + 1
		}
	}
}

// hodgesLehmann is the median of every pairwise difference y - x.
func hodgesLehmann(x, y []float64) float64 {
	diffs := make([]float64, 0, len(x)*len(y))
	for _, a := range x {
		for _, b := range y {
			diffs = append(diffs, b-a)
		}
	}
	return median(diffs)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}
