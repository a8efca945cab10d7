// Package analysis judges a canary from metrics: an analysis file of
// Prometheus queries with thresholds, measured every interval and
// aggregated with failure limits, and baseline-vs-canary Mann–Whitney
// judges, measured once per step on that step's samples. No data is
// inconclusive, never a pass; a judge whose samples per step cannot reach
// its α is an error in the file (CheckSamples).
package analysis

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/org/erlmcp-deploy/internal/judge"
)

// Spec is an analysis file.
type Spec struct {
	// Interval between measurements (overrides the canary-interval input when set).
	Interval Duration `yaml:"interval"`
	// Count of measurements per canary step (overrides canary-analysis-count when set).
	Count int `yaml:"count"`
	// Inconclusive is what an inconclusive step does: "abort" (default) or
	// "wait" (stop and leave the decision to a person).
	Inconclusive string   `yaml:"inconclusive"`
	Metrics      []Metric `yaml:"metrics"`

	path string
}

// Metric is one query and its success criteria.
type Metric struct {
	Name string `yaml:"name"`
	// Query is PromQL; {{track}} becomes canary, baseline or stable, and
	// {{namespace}} and {{deployment}} the deploy's.
	Query string `yaml:"query"`
	// Max and Min bound each measurement of the canary (either or both).
	Max *float64 `yaml:"max"`
	Min *float64 `yaml:"min"`
	// Judge compares the canary's samples with the baseline's instead, once
	// per step (at its last measurement) on the samples of that step.
	Judge *JudgeSpec `yaml:"judge"`
	// FailureLimit is how many failed measurements are tolerated (default 0;
	// a judge's must be 0: it looks once per step).
	FailureLimit int `yaml:"failureLimit"`
	// InconclusiveLimit is how many measurements without data are tolerated
	// (default 0; a judge's must be 0: its one look without data would pass).
	InconclusiveLimit int `yaml:"inconclusiveLimit"`
	// NoData is what a measurement without data counts as: "inconclusive" (default) or "fail".
	NoData string `yaml:"noData"`
	// Critical fails the canary at the first failed measurement, whatever the limit.
	Critical bool `yaml:"critical"`

	line int
}

// JudgeSpec tunes a baseline-vs-canary comparison (package judge).
type JudgeSpec struct {
	Direction judge.Direction `yaml:"direction"`
	// Confidence: a difference counts when its p is below α = 1 - Confidence (default 0.98).
	Confidence float64 `yaml:"confidence"`
	// EffectSize is the smallest relative change of the median that fails (default 0.1).
	EffectSize float64 `yaml:"effectSize"`
	// MinSamples a side below which a comparison is no data (default, and
	// at least, judge.MinSamples(α)).
	MinSamples int `yaml:"minSamples"`
	// Step is the resolution of the samples (default 10s): a step's
	// comparison gets count × interval ÷ Step samples a side.
	Step Duration `yaml:"step"`
}

// Duration is a time.Duration written like "30s" in YAML.
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration such as 30s or 1m", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// FileError is a problem in the analysis file, at a line (0: the whole file).
type FileError struct {
	File string
	Line int
	Msg  string
}

// Error is "file:line: msg".
func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// Load reads and validates an analysis file.
func Load(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &FileError{File: path, Msg: err.Error()}
	}
	return Parse(path, b)
}

// Parse validates an analysis file's content; errors name the file and line.
func Parse(path string, b []byte) (*Spec, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&root); err != nil {
		return nil, &FileError{File: path, Msg: err.Error()}
	}
	dec = yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var s Spec
	if err := dec.Decode(&s); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			return nil, &FileError{File: path, Msg: strings.Join(te.Errors, "; ")}
		}
		return nil, &FileError{File: path, Msg: err.Error()}
	}
	lines := metricLines(&root)
	for i := range s.Metrics {
		if i < len(lines) {
			s.Metrics[i].line = lines[i]
		}
	}
	s.path = path
	if err := s.validate(path); err != nil {
		return nil, err
	}
	if s.Interval > 0 && s.Count > 0 { // the file decides the samples per step: check them now
		if err := s.CheckSamples(0, 0); err != nil {
			return nil, err
		}
	}
	return &s, nil
}

// metricLines are the lines where each entry of `metrics:` starts.
func metricLines(root *yaml.Node) []int {
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "metrics" && m.Content[i+1].Kind == yaml.SequenceNode {
			var out []int
			for _, n := range m.Content[i+1].Content {
				out = append(out, n.Line)
			}
			return out
		}
	}
	return nil
}

func (s *Spec) validate(path string) error {
	fail := func(line int, format string, args ...any) error {
		return &FileError{File: path, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	switch s.Inconclusive {
	case "":
		s.Inconclusive = "abort"
	case "abort", "wait":
	default:
		return fail(0, "inconclusive: %q is not one of abort, wait", s.Inconclusive)
	}
	if s.Count < 0 {
		return fail(0, "count must be at least 1")
	}
	if len(s.Metrics) == 0 {
		return fail(0, "no metrics: list at least one under metrics:")
	}
	seen := map[string]bool{}
	for i := range s.Metrics {
		m := &s.Metrics[i]
		switch {
		case m.Name == "":
			return fail(m.line, "a metric needs a name")
		case seen[m.Name]:
			return fail(m.line, "metric %q is listed twice", m.Name)
		case strings.TrimSpace(m.Query) == "":
			return fail(m.line, "metric %q needs a query (PromQL)", m.Name)
		case m.Judge == nil && m.Max == nil && m.Min == nil:
			return fail(m.line, "metric %q needs max, min or judge: without a criterion it can only pass", m.Name)
		case m.Judge != nil && (m.Max != nil || m.Min != nil):
			return fail(m.line, "metric %q: give either max/min (thresholds) or judge (baseline vs canary), not both", m.Name)
		case m.FailureLimit < 0 || m.InconclusiveLimit < 0:
			return fail(m.line, "metric %q: limits must be 0 or more", m.Name)
		case m.Judge != nil && m.FailureLimit > 0:
			return fail(m.line, "metric %q: a judge compares once per step, so failureLimit %d would let it never fail; leave it out (0)", m.Name, m.FailureLimit)
		case m.Judge != nil && m.InconclusiveLimit > 0:
			return fail(m.line, "metric %q: a judge compares once per step, so inconclusiveLimit %d would pass a step without its data; leave it out (0)", m.Name, m.InconclusiveLimit)
		}
		seen[m.Name] = true
		switch m.NoData {
		case "":
			m.NoData = "inconclusive"
		case "inconclusive", "fail":
		default:
			return fail(m.line, "metric %q: noData: %q is not one of inconclusive, fail (no data is never a pass)", m.Name, m.NoData)
		}
		if m.Judge != nil {
			switch m.Judge.Direction {
			case "":
				m.Judge.Direction = judge.Increase
			case judge.Increase, judge.Decrease, judge.Either:
			default:
				return fail(m.line, "metric %q: judge.direction: %q is not one of increase, decrease, either", m.Name, m.Judge.Direction)
			}
			if m.Judge.Step == 0 {
				m.Judge.Step = Duration(10 * time.Second)
			}
			if err := m.Judge.validate(m.Name, func(format string, args ...any) error { return fail(m.line, format, args...) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// validate checks a judge can reach its verdict and sets its defaults.
func (j *JudgeSpec) validate(name string, fail func(format string, args ...any) error) error {
	switch {
	case j.Confidence == 0:
		j.Confidence = 0.98
	case !(j.Confidence > 0 && j.Confidence < 1):
		return fail("metric %q: judge.confidence %g must be between 0 and 1 (e.g. 0.98: differences with p < 0.02 count)", name, j.Confidence)
	}
	switch {
	case j.EffectSize == 0:
		j.EffectSize = 0.1
	case !(j.EffectSize > 0) || math.IsInf(j.EffectSize, 0):
		return fail("metric %q: judge.effectSize %g must be more than 0 (0.1: a 10%% change of the median)", name, j.EffectSize)
	case j.Direction == judge.Decrease && j.EffectSize > 1:
		return fail("metric %q: judge.effectSize %g with direction decrease could never fail: a value that is not negative falls by at most 100%% (1)", name, j.EffectSize)
	}
	need := judge.MinSamples(1 - j.Confidence)
	switch {
	case j.MinSamples < 0:
		return fail("metric %q: judge.minSamples must be 0 or more", name)
	case j.MinSamples == 0:
		j.MinSamples = need
	case j.MinSamples < need:
		return fail("metric %q: judge.minSamples %d cannot reach confidence %g: with %d a side the smallest Mann–Whitney p is %.4g, not below %.4g; at least %d can",
			name, j.MinSamples, j.Confidence, j.MinSamples, judge.MinP(j.MinSamples, j.MinSamples), 1-j.Confidence, need)
	}
	return nil
}

// CheckSamples checks every judge metric gets enough samples per step to
// reach its α, before anything runs: a step's comparison gets
// ⌊count × interval ÷ judge.step⌋ samples a side (the file's interval and
// count when set, else the given ones: canary-interval and
// canary-analysis-count). The error is a *FileError at the first metric
// that cannot, naming the smallest sample size and count that can.
// Invalid interval or count (not the file's) are not its business: nil.
func (s *Spec) CheckSamples(interval time.Duration, count int) error {
	what := func(file bool, input string) string {
		if file {
			return ""
		}
		return " (" + input + ")"
	}
	ivWhat, cWhat := what(s.Interval > 0, "canary-interval"), what(s.Count > 0, "canary-analysis-count")
	if s.Interval > 0 {
		interval = time.Duration(s.Interval)
	}
	if s.Count > 0 {
		count = s.Count
	}
	if interval <= 0 || count < 1 {
		return nil
	}
	for _, m := range s.Metrics {
		if m.Judge == nil {
			continue
		}
		step := time.Duration(m.Judge.Step)
		have := SamplesPerStep(interval, count, step)
		alpha := 1 - m.Judge.Confidence
		need := max(judge.MinSamples(alpha), m.Judge.MinSamples)
		if have >= need {
			continue
		}
		minCount := count
		for SamplesPerStep(interval, minCount, step) < need {
			minCount++
		}
		why := fmt.Sprintf("the smallest two-sided Mann–Whitney p for %d a side is %.4g, not below α = %.4g (confidence %g): it could never fail",
			have, judge.MinP(have, have), alpha, m.Judge.Confidence)
		or := "a lower confidence"
		if judge.MinP(have, have) < alpha {
			why = fmt.Sprintf("judge.minSamples is %d: it would never have data", m.Judge.MinSamples)
			or = "a lower judge.minSamples"
		}
		return &FileError{File: s.path, Line: m.line, Msg: fmt.Sprintf(
			"metric %q: its judge compares %d samples a side per step (count %d%s × interval %s%s ÷ judge.step %s), and %s; "+
				"it needs at least %d a side: count %d at this interval and step, a shorter judge.step, or %s",
			m.Name, have, count, cWhat, interval, ivWhat, step, why, need, minCount, or)}
	}
	return nil
}

// SamplesPerStep is how many samples a side a judge compares in a step of
// count measurements every interval, at a resolution of step:
// ⌊count × interval ÷ step⌋ (the range query's points over the step's
// measurements; the rollout before them may add some, missing scrapes take
// some away, and a comparison that then cannot reach α is no data).
func SamplesPerStep(interval time.Duration, count int, step time.Duration) int {
	if step <= 0 || interval <= 0 || count < 1 {
		return 0
	}
	return int(time.Duration(count) * interval / step)
}

// NeedsBaseline reports whether a metric compares with a baseline.
func (s *Spec) NeedsBaseline() bool {
	for _, m := range s.Metrics {
		if m.Judge != nil {
			return true
		}
	}
	return false
}

// Render substitutes the placeholders of a query.
func Render(query, track, namespace, deployment string) string {
	r := strings.NewReplacer("{{track}}", track, "{{namespace}}", namespace, "{{deployment}}", deployment)
	return r.Replace(query)
}
