package smoke

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/org/erlmcp-deploy/internal/mcpcheck"
)

// Report file names inside the report directory.
const (
	JSONReportName  = "smoke-report.json"
	JUnitReportName = "smoke-junit.xml"
)

// JSONReport is the JSON report's shape.
type JSONReport struct {
	BaseURL     string           `json:"base_url"`
	Environment string           `json:"environment,omitempty"`
	Suite       string           `json:"suite"`
	Started     time.Time        `json:"started"`
	ElapsedMS   float64          `json:"elapsed_ms"`
	OK          bool             `json:"ok"`
	Passed      int              `json:"passed"`
	Failed      int              `json:"failed"`
	Total       int              `json:"total"`
	Checks      []JSONCheck      `json:"checks"`
	MCP         *mcpcheck.Result `json:"mcp,omitempty"`
	Load        *JSONLoad        `json:"load,omitempty"`
}

// JSONCheck is one check in the JSON report.
type JSONCheck struct {
	Name      string  `json:"name"`
	Passed    bool    `json:"passed"`
	Warning   bool    `json:"warning,omitempty"`
	LatencyMS float64 `json:"latency_ms"`
	Detail    string  `json:"detail"`
}

// JSONLoad is the load gate in the JSON report.
type JSONLoad struct {
	Mode        string         `json:"mode"`
	URL         string         `json:"url"`
	Concurrency int            `json:"concurrency"`
	Rate        float64        `json:"rate,omitempty"`
	ElapsedMS   float64        `json:"elapsed_ms"`
	Requests    int64          `json:"requests"`
	Errors      int64          `json:"errors"`
	RPS         float64        `json:"rps"`
	ErrorRate   float64        `json:"error_rate"`
	P50MS       float64        `json:"p50_ms"`
	P95MS       float64        `json:"p95_ms"`
	P99MS       float64        `json:"p99_ms"`
	MaxMS       float64        `json:"max_ms"`
	ErrorKinds  map[string]int `json:"error_kinds,omitempty"`
	Violations  []string       `json:"violations,omitempty"`
}

// MS is d in milliseconds (3 decimals).
func MS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// JSON returns the JSON report of r.
func (r *Result) JSON() JSONReport {
	p, f, t := r.Counts()
	out := JSONReport{BaseURL: r.BaseURL, Environment: r.Environment, Suite: r.Suite, Started: r.Started.UTC(),
		ElapsedMS: MS(r.Elapsed), OK: f == 0, Passed: p, Failed: f, Total: t, Checks: []JSONCheck{}, MCP: r.MCP}
	for _, c := range r.Checks {
		out.Checks = append(out.Checks, JSONCheck{Name: c.Name, Passed: c.Passed, Warning: c.Warning, LatencyMS: MS(c.Latency), Detail: c.Detail})
	}
	if l := r.Load; l != nil {
		out.Load = &JSONLoad{Mode: l.Mode, URL: l.URL, Concurrency: l.Concurrency, Rate: l.Rate, ElapsedMS: MS(l.Elapsed),
			Requests: l.Requests, Errors: l.Errors, RPS: l.RPS, ErrorRate: l.ErrorRate, P50MS: MS(l.P50), P95MS: MS(l.P95),
			P99MS: MS(l.P99), MaxMS: MS(l.Max), ErrorKinds: l.ErrorKinds, Violations: l.Violations}
	}
	return out
}

// JUnitSuites is the root of the JUnit XML report.
type JUnitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []JUnitSuite `xml:"testsuite"`
}

// JUnitSuite is one testsuite.
type JUnitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []JUnitCase `xml:"testcase"`
}

// JUnitCase is one testcase.
type JUnitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *JUnitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

// JUnitFailure says why a testcase failed.
type JUnitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// JUnit returns the JUnit report of r.
func (r *Result) JUnit() JUnitSuites {
	_, f, t := r.Counts()
	name := "erlmcp smoke"
	if r.Environment != "" {
		name += " (" + r.Environment + ")"
	}
	suite := JUnitSuite{Name: name, Tests: t, Failures: f, Time: seconds(r.Elapsed), Timestamp: r.Started.UTC().Format(time.RFC3339)}
	for _, c := range r.Checks {
		tc := JUnitCase{Name: c.Name, Classname: "erlmcp.smoke", Time: seconds(c.Latency)}
		switch {
		case !c.Passed:
			tc.Failure = &JUnitFailure{Message: c.Detail, Type: "SmokeCheckFailed", Text: c.Detail}
		case c.Warning:
			tc.SystemOut = "warning: " + c.Detail
		default:
			tc.SystemOut = c.Detail
		}
		suite.Cases = append(suite.Cases, tc)
	}
	return JUnitSuites{Name: name, Tests: t, Failures: f, Time: seconds(r.Elapsed), Suites: []JUnitSuite{suite}}
}

// WriteReports writes the JSON and JUnit reports into dir (created if needed)
// and returns their paths.
func WriteReports(dir string, r *Result) (jsonPath, junitPath string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("report dir: %w", err)
	}
	js, err := json.MarshalIndent(r.JSON(), "", "  ")
	if err != nil {
		return "", "", err
	}
	jsonPath = filepath.Join(dir, JSONReportName)
	if err := os.WriteFile(jsonPath, append(js, '\n'), 0o644); err != nil {
		return "", "", fmt.Errorf("write JSON report: %w", err)
	}
	x, err := xml.MarshalIndent(r.JUnit(), "", "  ")
	if err != nil {
		return "", "", err
	}
	junitPath = filepath.Join(dir, JUnitReportName)
	if err := os.WriteFile(junitPath, append([]byte(xml.Header), append(x, '\n')...), 0o644); err != nil {
		return "", "", fmt.Errorf("write JUnit report: %w", err)
	}
	return jsonPath, junitPath, nil
}
