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
	// have a two-sided p-value below 1 - Confidence.
	Confidence float64
	// EffectSize is the smallest relative change of the median that matters
	// (0.1 = 10 %; default 0.1). A significant change smaller than it passes.
	EffectSize float64
	// MinSamples each side needs (default 3); fewer is no data.
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
		c.MinSamples = 3
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
	// Baseline and Canary are the samples' medians; Change is (canary - baseline) / |baseline| (±Inf when the baseline is 0).
	Baseline, Canary, Change float64
	Reason                   string
}

// Compare judges the canary's samples against the baseline's.
func Compare(baseline, canary []float64, c Criteria) Verdict {
	c = c.withDefaults()
	baseline, canary = finite(baseline), finite(canary)
	if len(baseline) < c.MinSamples || len(canary) < c.MinSamples {
		return Verdict{Outcome: NoData, Reason: fmt.Sprintf("not enough data: %d baseline and %d canary samples (at least %d each)",
			len(baseline), len(canary), c.MinSamples)}
	}
	v := Verdict{Test: MannWhitney(baseline, canary), Baseline: median(baseline), Canary: median(canary)}
	v.Change = relChange(v.Baseline, v.Canary)
	alpha := 1 - c.Confidence
	bad := (c.Direction == Increase && v.Canary > v.Baseline) || (c.Direction == Decrease && v.Canary < v.Baseline) ||
		(c.Direction == Either && v.Canary != v.Baseline)
	describe := fmt.Sprintf("canary median %.4g vs baseline %.4g (%+.1f%%), Mann–Whitney p=%.4g", v.Canary, v.Baseline, 100*v.Change, v.Test.P)
	switch {
	case v.Test.P >= alpha:
		v.Outcome, v.Reason = Pass, describe+fmt.Sprintf(": no significant difference at %.0f%% confidence", 100*c.Confidence)
	case !bad:
		v.Outcome, v.Reason = Pass, describe+": a significant change in the good direction"
	case math.Abs(v.Change) < c.EffectSize:
		v.Outcome, v.Reason = Pass, describe+fmt.Sprintf(": significant but smaller than the %.0f%% effect size", 100*c.EffectSize)
	default:
		v.Outcome, v.Reason = Fail, describe+fmt.Sprintf(": significantly worse at %.0f%% confidence", 100*c.Confidence)
	}
	return v
}

func relChange(base, canary float64) float64 {
	switch {
	case base != 0:
		return (canary - base) / math.Abs(base)
	case canary > 0:
		return math.Inf(1)
	case canary < 0:
		return math.Inf(-1)
	}
	return 0
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
