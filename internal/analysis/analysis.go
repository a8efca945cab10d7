// Package analysis judges a canary from metrics: an analysis file of
// Prometheus queries with thresholds (and, optionally, a baseline-vs-canary
// Mann–Whitney judge), measured every interval, aggregated with failure
// limits. No data is inconclusive, never a pass.
package analysis

import (
	"bytes"
	"errors"
	"fmt"
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
	// Judge compares the canary's samples with the baseline's instead.
	Judge *JudgeSpec `yaml:"judge"`
	// FailureLimit is how many failed measurements are tolerated (default 0).
	FailureLimit int `yaml:"failureLimit"`
	// InconclusiveLimit is how many measurements without data are tolerated (default 0).
	InconclusiveLimit int `yaml:"inconclusiveLimit"`
	// NoData is what a measurement without data counts as: "inconclusive" (default) or "fail".
	NoData string `yaml:"noData"`
	// Critical fails the canary at the first failed measurement, whatever the limit.
	Critical bool `yaml:"critical"`

	line int
}

// JudgeSpec tunes a baseline-vs-canary comparison (package judge).
type JudgeSpec struct {
	Direction  judge.Direction `yaml:"direction"`
	Confidence float64         `yaml:"confidence"`
	EffectSize float64         `yaml:"effectSize"`
	MinSamples int             `yaml:"minSamples"`
	// Step is the resolution of the samples (default 10s).
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
	if err := s.validate(path); err != nil {
		return nil, err
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
		}
	}
	return nil
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
