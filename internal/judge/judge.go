package judge

import (
	"fmt"
	"math"
)

// Direction says which change of the canary's metric is bad.
type Direction string

// Directions.
const (
	// Increase: a higher canary value is worse (errors, latency).
	Increase Direction = "increase"
	// Decrease: a lower canary value is worse (throughput, success rate).
	Decrease Direction = "decrease"
	// Either: any real change is bad.
	Either Direction = "either"
)

// Criteria say when a difference fails the canary.
type Criteria struct {
	Direction Direction
	// Confidence of the test (default 0.98, Kayenta's): the difference must
	// have a two-sided p-value below α = 1 - Confidence.
	Confidence float64
	// EffectSize is the smallest relative change of the median that matters
	// (0.1 = 10 %; default 0.1). A significant change smaller than it passes.
	// From a baseline median of 0 there is no relative change: any
	// significant change in the bad direction matters (see Verdict.FromZero).
	EffectSize float64
	// MinSamples each side needs (default MinSamples(α): 5 at the default
	// confidence); fewer is no data. Sizes whose MinP is not below α are no
	// data too, whatever MinSamples says: they could only pass.
	MinSamples int
}

func (c Criteria) withDefaults() Criteria {
	if c.Direction == "" {
		c.Direction = Increase
	}
	if c.Confidence <= 0 || c.Confidence >= 1 {
		c.Confidence = 0.98
	}
	if c.EffectSize <= 0 {
		c.EffectSize = 0.1
	}
	if c.MinSamples <= 0 {
		c.MinSamples = MinSamples(1 - c.Confidence)
	}
	return c
}

// Outcome of a comparison.
type Outcome string

// Outcomes.
const (
	Pass   Outcome = "pass"
	Fail   Outcome = "fail"
	NoData Outcome = "nodata"
)

// Verdict is a comparison's outcome and its evidence.
type Verdict struct {
	Outcome Outcome
	Test    Test
	// Baseline and Canary are the samples' medians; Change is
	// (canary - baseline) / |baseline|. From a baseline median of 0
	// (FromZero) Change is the sign of the canary's median (±1, 0 when both
	// are 0): never ±Inf or NaN.
	Baseline, Canary, Change float64
	FromZero                 bool
	Reason                   string
}

// Compare judges the canary's samples against the baseline's: it fails
// when the Mann–Whitney p is below α = 1 - Confidence, the medians moved in
// the bad Direction, and by at least EffectSize (any amount from a baseline
// median of 0). Too few samples, or sizes that cannot reach α, are no data.
func Compare(baseline, canary []float64, c Criteria) Verdict {
	c = c.withDefaults()
	alpha := 1 - c.Confidence
	baseline, canary = finite(baseline), finite(canary)
	if len(baseline) < c.MinSamples || len(canary) < c.MinSamples {
		return Verdict{Outcome: NoData, Reason: fmt.Sprintf("not enough data: %d baseline and %d canary samples (at least %d each)",
			len(baseline), len(canary), c.MinSamples)}
	}
	if p := MinP(len(baseline), len(canary)); p >= alpha {
		return Verdict{Outcome: NoData, Reason: fmt.Sprintf("not enough data: with %d baseline and %d canary samples the smallest Mann–Whitney p is %.4g, not below α = %.4g (%d each can reach it)",
			len(baseline), len(canary), p, alpha, MinSamples(alpha))}
	}
	v := Verdict{Test: MannWhitney(baseline, canary), Baseline: median(baseline), Canary: median(canary)}
	v.Change, v.FromZero = relChange(v.Baseline, v.Canary)
	bad := (c.Direction == Increase && v.Canary > v.Baseline) || (c.Direction == Decrease && v.Canary < v.Baseline) ||
		(c.Direction == Either && v.Canary != v.Baseline)
	change := fmt.Sprintf("%+.1f%%", 100*v.Change)
	if v.FromZero {
		change = "from a baseline of 0"
	}
	describe := fmt.Sprintf("canary median %.4g vs baseline %.4g (%s), Mann–Whitney p=%.4g", v.Canary, v.Baseline, change, v.Test.P)
	switch {
	case v.Test.P >= alpha:
		v.Outcome, v.Reason = Pass, describe+fmt.Sprintf(": no significant difference at %.4g%% confidence", 100*c.Confidence)
	case v.Canary == v.Baseline:
		v.Outcome, v.Reason = Pass, describe+": significant, but the median did not move"
	case !bad:
		v.Outcome, v.Reason = Pass, describe+": a significant change in the good direction"
	case !v.FromZero && math.Abs(v.Change) < c.EffectSize:
		v.Outcome, v.Reason = Pass, describe+fmt.Sprintf(": significant but smaller than the %.4g%% effect size", 100*c.EffectSize)
	default:
		v.Outcome, v.Reason = Fail, describe+fmt.Sprintf(": significantly worse at %.4g%% confidence", 100*c.Confidence)
	}
	return v
}

// relChange is (canary - base) / |base|; from a base of 0 there is no
// relative change, so it is the canary's sign (fromZero: any change is
// beyond every effect size).
func relChange(base, canary float64) (change float64, fromZero bool) {
	switch {
	case base != 0:
		return (canary - base) / math.Abs(base), false
	case canary > 0:
		return 1, true
	case canary < 0:
		return -1, true
	}
	return 0, true
}

// finite drops NaN and ±Inf samples (a query over no requests gives NaN).
func finite(v []float64) []float64 {
	out := make([]float64, 0, len(v))
	for _, x := range v {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			out = append(out, x)
		}
	}
	return out
}
