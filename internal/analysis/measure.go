package analysis

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/org/erlmcp-deploy/internal/judge"
)

// Source answers PromQL queries (package analysis's Prometheus, or a fake).
type Source interface {
	// Instant is the query's single value at a time; ok is false when the
	// query returned nothing (or NaN).
	Instant(ctx context.Context, query string, at time.Time) (value float64, ok bool, err error)
	// Range is the query's samples between from and to.
	Range(ctx context.Context, query string, from, to time.Time, step time.Duration) ([]float64, error)
}

// Outcome of a measurement, a metric or an analysis.
type Outcome string

// Outcomes.
const (
	Pass         Outcome = "pass"
	Fail         Outcome = "fail"
	Inconclusive Outcome = "inconclusive"
)

// Target is what the queries are about.
type Target struct{ Namespace, Deployment string }

// Measurement is one metric measured once.
type Measurement struct {
	Metric  string
	At      time.Time
	Outcome Outcome
	// Value is the canary's value (the canary's median for a judge).
	Value  float64
	Reason string
}

// Measure takes one measurement at `at` of every threshold metric, and
// with last (the step's last measurement) of every judge too: a judge
// compares the canary's and the baseline's samples between `from` (the
// step's start) and `at` once per step. Judging at every measurement
// would re-test a growing, overlapping window, and each look is another
// chance of a false failure; one look per step on that step's samples
// keeps the false-failure rate at α per step.
func (s *Spec) Measure(ctx context.Context, src Source, t Target, from, at time.Time, last bool) []Measurement {
	out := make([]Measurement, 0, len(s.Metrics))
	for _, m := range s.Metrics {
		if m.Judge != nil && !last {
			continue
		}
		out = append(out, m.measure(ctx, src, t, from, at))
	}
	return out
}

func (m Metric) measure(ctx context.Context, src Source, t Target, from, at time.Time) Measurement {
	r := Measurement{Metric: m.Name, At: at}
	noData := func(why string) Measurement {
		r.Outcome, r.Reason = Inconclusive, why
		if m.NoData == "fail" {
			r.Outcome = Fail
			r.Reason += " (noData: fail)"
		}
		r.Value = math.NaN()
		return r
	}
	if m.Judge != nil {
		canary, err := src.Range(ctx, Render(m.Query, "canary", t.Namespace, t.Deployment), from, at, time.Duration(m.Judge.Step))
		if err != nil {
			return noData("query failed: " + err.Error())
		}
		base, err := src.Range(ctx, Render(m.Query, "baseline", t.Namespace, t.Deployment), from, at, time.Duration(m.Judge.Step))
		if err != nil {
			return noData("query failed: " + err.Error())
		}
		v := judge.Compare(base, canary, judge.Criteria{Direction: m.Judge.Direction, Confidence: m.Judge.Confidence,
			EffectSize: m.Judge.EffectSize, MinSamples: m.Judge.MinSamples})
		if v.Outcome != judge.NoData {
			v.Reason = fmt.Sprintf("%d baseline and %d canary samples: %s", v.Test.N1, v.Test.N2, v.Reason)
		}
		switch v.Outcome {
		case judge.NoData:
			return noData(v.Reason)
		case judge.Fail:
			r.Outcome = Fail
		default:
			r.Outcome = Pass
		}
		r.Value, r.Reason = v.Canary, v.Reason
		return r
	}
	v, ok, err := src.Instant(ctx, Render(m.Query, "canary", t.Namespace, t.Deployment), at)
	switch {
	case err != nil:
		return noData("query failed: " + err.Error())
	case !ok || math.IsNaN(v):
		return noData("no data: the query returned nothing")
	}
	r.Value = v
	switch {
	case m.Max != nil && v > *m.Max:
		r.Outcome, r.Reason = Fail, fmt.Sprintf("%.4g > max %.4g", v, *m.Max)
	case m.Min != nil && v < *m.Min:
		r.Outcome, r.Reason = Fail, fmt.Sprintf("%.4g < min %.4g", v, *m.Min)
	default:
		r.Outcome, r.Reason = Pass, fmt.Sprintf("%.4g within %s", v, m.bounds())
	}
	return r
}

func (m Metric) bounds() string {
	var parts []string
	if m.Min != nil {
		parts = append(parts, fmt.Sprintf("min %.4g", *m.Min))
	}
	if m.Max != nil {
		parts = append(parts, fmt.Sprintf("max %.4g", *m.Max))
	}
	return strings.Join(parts, ", ")
}

// MetricResult is one metric over the measurements so far.
type MetricResult struct {
	Name                   string
	Passed, Failed, Nodata int
	Outcome                Outcome
	// Last is the most recent measurement.
	Last Measurement
}

// Result is the analysis over the measurements so far.
type Result struct {
	Outcome Outcome
	Metrics []MetricResult
	// Reason names the metrics that decided it.
	Reason string
}

// Conclude aggregates measurements: a pure function. A metric fails when
// its failed measurements exceed its failure limit (a critical one at the
// first), is inconclusive when its measurements without data exceed its
// limit, or when it was never measured once every measurement is in (a
// judge without its step's look); the analysis fails on any failed metric,
// else is inconclusive on any inconclusive one, else passes. Before every
// planned measurement is in (complete false) it can only fail (early) or
// be under way ("").
func (s *Spec) Conclude(ms []Measurement, complete bool) Result {
	res := Result{Outcome: Pass}
	var failed, unknown []string
	for _, m := range s.Metrics {
		mr := MetricResult{Name: m.Name, Outcome: Pass}
		for _, x := range ms {
			if x.Metric != m.Name {
				continue
			}
			mr.Last = x
			switch x.Outcome {
			case Pass:
				mr.Passed++
			case Fail:
				mr.Failed++
			default:
				mr.Nodata++
			}
		}
		switch {
		case mr.Failed > m.FailureLimit || (m.Critical && mr.Failed > 0):
			mr.Outcome = Fail
			failed = append(failed, fmt.Sprintf("%s (%d of %d measurements failed, limit %d; last: %s)", m.Name, mr.Failed, mr.Passed+mr.Failed+mr.Nodata, m.FailureLimit, mr.Last.Reason))
		case mr.Nodata > m.InconclusiveLimit:
			mr.Outcome = Inconclusive
			unknown = append(unknown, fmt.Sprintf("%s (%d measurements without data, limit %d; last: %s)", m.Name, mr.Nodata, m.InconclusiveLimit, mr.Last.Reason))
		case complete && mr.Passed+mr.Failed+mr.Nodata == 0:
			mr.Outcome = Inconclusive
			unknown = append(unknown, m.Name+" (never measured)")
		}
		res.Metrics = append(res.Metrics, mr)
	}
	switch {
	case len(failed) > 0:
		res.Outcome, res.Reason = Fail, "analysis failed: "+strings.Join(failed, "; ")
	case !complete:
		res.Outcome, res.Reason = "", "analysis under way"
	case len(unknown) > 0:
		res.Outcome, res.Reason = Inconclusive, "analysis inconclusive: "+strings.Join(unknown, "; ")
	default:
		res.Reason = fmt.Sprintf("analysis passed: %d metrics", len(s.Metrics))
	}
	return res
}
