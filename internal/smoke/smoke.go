// Package smoke is the smoke action's engine: it waits until an erlmcp
// service answers its health check, runs the built-in erlmcp suite (health
// JSON, readiness, liveness, Prometheus metrics, MCP handshake, dashboard),
// the declarative checks file and an optional load gate, holds every
// request's latency to a limit and reports the result as JSON and JUnit XML.
package smoke

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/org/erlmcp-deploy/internal/checks"
	"github.com/org/erlmcp-deploy/internal/loadgate"
	"github.com/org/erlmcp-deploy/internal/mcpcheck"
	"github.com/org/erlmcp-deploy/internal/probe"
	"github.com/org/erlmcp-deploy/internal/ui"
)

// Suites.
const (
	SuiteErlmcp = "erlmcp"
	SuiteNone   = "none"
)

const (
	// DefaultBodyLimit caps how much of any answer is read.
	DefaultBodyLimit = 10 << 20
	// DefaultMaxResponseTime is the latency limit when Options.MaxResponseTime is 0.
	DefaultMaxResponseTime = time.Second
	// maxRedirects is how many redirects a request may follow.
	maxRedirects = 10
)

// Options configures a smoke run.
type Options struct {
	// BaseURL is the service, e.g. https://erlmcp.staging.example.com.
	BaseURL     string
	Environment string
	// Suite is "erlmcp" (default) or "none" (only the checks file, dashboard and load gate).
	Suite string
	// Checks are the parsed checks file's checks.
	Checks []checks.Check
	// MCPURL is the absolute URL of the MCP endpoint; "" skips the MCP check.
	MCPURL         string
	MCPExpectTools []string
	// DashboardURL must answer 200 when set (absolute, or a path on BaseURL).
	DashboardURL string
	// MaxResponseTime is the latency limit of every single request (default 1s).
	MaxResponseTime time.Duration
	// Wait is how long to wait until the health check answers (0: one attempt).
	Wait time.Duration
	// FailOnDegraded fails, rather than warns, when /health says degraded.
	FailOnDegraded bool
	// Headers go with every request.
	Headers http.Header
	// ConnectTo, when set, is the address (host:port) every connection to the
	// base URL's host and port goes to instead, never through a proxy: how
	// smoke reaches a service through a port-forward while each request keeps
	// the base URL (Host header, TLS server name, path prefix).
	ConnectTo string
	// InsecureSkipVerify skips TLS verification; CAFile adds trusted CAs (PEM).
	InsecureSkipVerify bool
	CAFile             string
	// Load enables the load gate.
	Load *LoadOptions
	// BodyLimit caps how much of an answer is read (default 10 MiB).
	BodyLimit int64
	// Log receives progress lines (default: discarded).
	Log ui.Logger
	// WaitInterval is the first pause between health attempts (default: probe's 250ms).
	WaitInterval time.Duration
}

// LoadOptions configures the load gate.
type LoadOptions struct {
	// URL is loaded (default: BaseURL/health/live for the erlmcp suite, else BaseURL).
	URL         string
	Duration    time.Duration
	Concurrency int
	Rate        float64
	MaxRequests int64
	Gates       loadgate.Gates
}

// Check is the outcome of one check.
type Check struct {
	Name    string
	Passed  bool
	Warning bool
	Latency time.Duration
	Detail  string
}

// Result is the outcome of a smoke run.
type Result struct {
	BaseURL     string
	Environment string
	Suite       string
	Started     time.Time
	Elapsed     time.Duration
	Checks      []Check
	MCP         *mcpcheck.Result
	Load        *loadgate.Result
}

// Counts returns how many checks passed, failed and ran.
func (r *Result) Counts() (passed, failed, total int) {
	for _, c := range r.Checks {
		if c.Passed {
			passed++
		} else {
			failed++
		}
	}
	return passed, failed, len(r.Checks)
}

// OK reports whether every check passed.
func (r *Result) OK() bool {
	_, failed, _ := r.Counts()
	return failed == 0
}

// FailedNames lists the failed checks.
func (r *Result) FailedNames() []string {
	var out []string
	for _, c := range r.Checks {
		if !c.Passed {
			out = append(out, c.Name)
		}
	}
	return out
}

type engine struct {
	opts    Options
	client  *http.Client
	tr      *http.Transport
	log     ui.Logger
	res     *Result
	timeout time.Duration
}

// Run runs the smoke test. The error is only about the options (a bad
// base URL or CA file); failed checks are in the result.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.Suite == "" {
		opts.Suite = SuiteErlmcp
	}
	if opts.MaxResponseTime <= 0 {
		opts.MaxResponseTime = DefaultMaxResponseTime
	}
	if opts.BodyLimit <= 0 {
		opts.BodyLimit = DefaultBodyLimit
	}
	if opts.Log == nil {
		opts.Log = ui.Discard{}
	}
	if err := CheckURL(opts.BaseURL); err != nil {
		return nil, fmt.Errorf("base URL: %w", err)
	}
	tr, err := NewTransport(opts.InsecureSkipVerify, opts.CAFile)
	if err != nil {
		return nil, err
	}
	if opts.ConnectTo != "" {
		connectTo(tr, opts.BaseURL, opts.ConnectTo)
	}
	e := &engine{opts: opts, tr: tr, log: opts.Log,
		res: &Result{BaseURL: opts.BaseURL, Environment: opts.Environment, Suite: opts.Suite, Started: time.Now()}}
	// A request may take longer than the limit (it fails the check, with its real
	// time), but not forever.
	e.timeout = max(5*time.Second, 3*opts.MaxResponseTime)
	e.client = NewClient(tr, e.timeout)
	defer func() { e.res.Elapsed = time.Since(e.res.Started) }()

	if !e.wait(ctx) {
		return e.res, nil
	}
	if opts.Suite == SuiteErlmcp {
		end := e.log.Group("erlmcp suite")
		e.health(ctx)
		e.okGET(ctx, "/health/ready", e.join("/health/ready"))
		e.okGET(ctx, "/health/live", e.join("/health/live"))
		e.metrics(ctx)
		if opts.MCPURL != "" {
			e.mcp(ctx)
		}
		end()
	}
	if opts.DashboardURL != "" {
		u, err := ResolveURL(opts.BaseURL, opts.DashboardURL)
		if err != nil {
			e.add(Check{Name: "dashboard", Detail: err.Error()})
		} else {
			e.okGET(ctx, "dashboard", u)
		}
	}
	if len(opts.Checks) > 0 {
		end := e.log.Group("checks file")
		r := &checks.Runner{Client: e.client, BaseURL: opts.BaseURL, Headers: opts.Headers, BodyLimit: opts.BodyLimit}
		for _, c := range opts.Checks {
			if ctx.Err() != nil {
				break
			}
			out := r.Run(ctx, c)
			e.add(e.latencyRule(Check{Name: "check: " + c.Name, Passed: out.Passed, Latency: out.Latency, Detail: out.Detail},
				time.Duration(c.Expect.MaxTime)))
		}
		end()
	}
	if opts.Load != nil && opts.Load.Duration > 0 && ctx.Err() == nil {
		e.load(ctx)
	}
	return e.res, nil
}

// add records a check and logs it.
func (e *engine) add(c Check) {
	e.res.Checks = append(e.res.Checks, c)
	lat := ""
	if c.Latency > 0 {
		lat = " (" + Round(c.Latency).String() + ")"
	}
	switch {
	case !c.Passed:
		e.log.Errorf("✗ %s%s: %s", c.Name, lat, c.Detail)
	case c.Warning:
		e.log.Warnf("! %s%s: %s", c.Name, lat, c.Detail)
	default:
		e.log.Infof("✓ %s%s: %s", c.Name, lat, c.Detail)
	}
}

// latencyRule fails a check that took longer than the limit (own, else max-response-time).
func (e *engine) latencyRule(c Check, own time.Duration) Check {
	limit := e.opts.MaxResponseTime
	if own > 0 {
		limit = own
	}
	if c.Latency > limit {
		msg := fmt.Sprintf("took %s, over max-response-time %s", Round(c.Latency), limit)
		if own > 0 {
			msg = fmt.Sprintf("took %s, over max-time %s", Round(c.Latency), limit)
		}
		if c.Passed {
			c.Passed, c.Warning, c.Detail = false, false, msg+" ("+c.Detail+")"
		} else if !strings.Contains(c.Detail, "over max-") {
			c.Detail = msg + "; " + c.Detail
		}
	}
	return c
}

func (e *engine) join(path string) string {
	return strings.TrimRight(e.opts.BaseURL, "/") + path
}

func (e *engine) probeOpts() probe.Options {
	return probe.Options{Client: e.client, Headers: e.opts.Headers, Interval: e.opts.WaitInterval}
}

// wait waits until the health check answers; false means it never did.
func (e *engine) wait(ctx context.Context) bool {
	target, what := e.join("/health"), "wait for /health"
	po := e.probeOpts()
	if e.opts.Suite != SuiteErlmcp {
		target, what = e.opts.BaseURL, "wait for base URL"
		po.Expect = func(s int) bool { return s < 500 }
	}
	end := e.log.Group("Wait for " + target)
	defer end()
	var r probe.Result
	var err error
	if e.opts.Wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, e.opts.Wait)
		r, err = probe.WaitHealthy(wctx, target, po)
		cancel()
	} else {
		r, err = probe.Get(ctx, target, po)
	}
	if err == nil {
		e.add(Check{Name: what, Passed: true, Latency: r.Latency,
			Detail: fmt.Sprintf("answered %d after %d attempt(s) in %s", r.Status, r.Attempts, Round(r.Elapsed))})
		return true
	}
	detail := err.Error()
	if e.opts.Wait > 0 {
		detail = fmt.Sprintf("not healthy within wait %s: %s", e.opts.Wait, detail)
	}
	e.add(Check{Name: what, Latency: r.Latency, Detail: detail})
	// The service answered something: show what /health says, subsystem by subsystem.
	if r.Status != 0 && e.opts.Suite == SuiteErlmcp && ctx.Err() == nil {
		e.health(ctx)
	}
	return false
}

// answer is one bounded GET.
type answer struct {
	status  int
	header  http.Header
	body    []byte
	latency time.Duration
}

func (e *engine) get(ctx context.Context, target, accept string) (answer, error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return answer{}, err
	}
	for k, vs := range e.opts.Headers {
		if strings.EqualFold(k, "Host") {
			if len(vs) > 0 {
				req.Host = vs[0]
			}
			continue
		}
		req.Header[http.CanonicalHeaderKey(k)] = vs
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	t0 := time.Now()
	resp, err := e.client.Do(req)
	if err != nil {
		a := answer{latency: time.Since(t0)}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			err = fmt.Errorf("no answer within %s", e.timeout)
		}
		return a, fmt.Errorf("GET %s: %w", target, err)
	}
	defer resp.Body.Close()
	body, err := checks.ReadLimited(resp.Body, e.opts.BodyLimit)
	a := answer{status: resp.StatusCode, header: resp.Header, body: body, latency: time.Since(t0)}
	if err != nil {
		return a, fmt.Errorf("GET %s: %w", target, err)
	}
	return a, nil
}

func (e *engine) okGET(ctx context.Context, name, target string) {
	a, err := e.get(ctx, target, "")
	c := Check{Name: name, Latency: a.latency}
	switch {
	case err != nil:
		c.Detail = err.Error()
	case a.status != http.StatusOK:
		c.Detail = fmt.Sprintf("GET %s answered %d %s, want 200%s", target, a.status, http.StatusText(a.status), bodyNote(a.body))
	default:
		c.Passed, c.Detail = true, fmt.Sprintf("200 OK (%s)", byteCount(len(a.body)))
	}
	e.add(e.latencyRule(c, 0))
}

// Health is erlmcp's /health JSON.
type Health struct {
	Status string `json:"status"`
	Checks []struct {
		Name    string `json:"name"`
		Status  string `json:"status"`
		Message string `json:"message"`
	} `json:"checks"`
	Summary *struct {
		Total     int `json:"total"`
		Healthy   int `json:"healthy"`
		Unhealthy int `json:"unhealthy"`
	} `json:"summary"`
}

// health checks the /health JSON and lists each subsystem as its own check.
func (e *engine) health(ctx context.Context) {
	target := e.join("/health")
	a, err := e.get(ctx, target, "application/json")
	if err != nil {
		e.add(e.latencyRule(Check{Name: "/health", Latency: a.latency, Detail: err.Error()}, 0))
		return
	}
	c, subsystems := JudgeHealth(a.status, a.body, e.opts.FailOnDegraded)
	c.Latency = a.latency
	e.add(e.latencyRule(c, 0))
	for _, sc := range subsystems {
		e.add(sc)
	}
}

// JudgeHealth judges an answer of erlmcp's /health (GUIDE §3): the overall
// check (healthy passes, degraded warns or fails with failOnDegraded,
// unhealthy fails, a non-200 or malformed answer fails) and one check per
// subsystem. Any body gives a verdict, never a panic.
func JudgeHealth(status int, body []byte, failOnDegraded bool) (Check, []Check) {
	c := Check{Name: "/health"}
	var h Health
	if err := json.Unmarshal(body, &h); err != nil {
		c.Detail = fmt.Sprintf("malformed /health JSON (HTTP %d): %v%s", status, err, bodyNote(body))
		return c, nil
	}
	if h.Status == "" {
		c.Detail = fmt.Sprintf("malformed /health JSON (HTTP %d): no \"status\" field%s", status, bodyNote(body))
		return c, nil
	}
	sum := fmt.Sprintf("%d subsystem check(s)", len(h.Checks))
	if h.Summary != nil {
		sum = fmt.Sprintf("%d/%d subsystems healthy, %d unhealthy", h.Summary.Healthy, h.Summary.Total, h.Summary.Unhealthy)
	}
	c.Passed, c.Warning, c.Detail = verdict(h.Status, failOnDegraded)
	c.Detail = fmt.Sprintf("status %s (HTTP %d); %s%s", h.Status, status, sum, c.Detail)
	if c.Passed && status != http.StatusOK {
		c.Passed, c.Warning = false, false
		c.Detail += fmt.Sprintf("; HTTP %d, want 200", status)
	}
	var subsystems []Check
	for _, s := range h.Checks {
		sc := Check{Name: "health: " + s.Name}
		var extra string
		sc.Passed, sc.Warning, extra = verdict(s.Status, failOnDegraded)
		sc.Detail = s.Status
		if s.Message != "" {
			sc.Detail += ": " + s.Message
		}
		sc.Detail += extra
		subsystems = append(subsystems, sc)
	}
	return c, subsystems
}

// verdict maps a health status to passed/warning and a note.
func verdict(status string, failOnDegraded bool) (passed, warning bool, note string) {
	switch strings.ToLower(status) {
	case "healthy", "ok", "up", "pass":
		return true, false, ""
	case "degraded", "warn":
		if failOnDegraded {
			return false, false, " (fail-on-degraded)"
		}
		return true, true, " (warning; fail-on-degraded is off)"
	case "unhealthy", "down", "fail":
		return false, false, ""
	}
	return false, false, fmt.Sprintf(" (unknown status %q; want healthy, degraded or unhealthy)", status)
}

// metrics parses /metrics as Prometheus text exposition.
func (e *engine) metrics(ctx context.Context) {
	target := e.join("/metrics")
	a, err := e.get(ctx, target, "text/plain;version=0.0.4;q=1,*/*;q=0.1")
	c := Check{Name: "/metrics", Latency: a.latency}
	switch {
	case err != nil:
		c.Detail = err.Error()
	case a.status != http.StatusOK:
		c.Detail = fmt.Sprintf("GET %s answered %d %s, want 200%s", target, a.status, http.StatusText(a.status), bodyNote(a.body))
	default:
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, perr := p.TextToMetricFamilies(bytes.NewReader(a.body))
		switch {
		case perr != nil:
			c.Detail = fmt.Sprintf("malformed Prometheus exposition: %v", perr)
		case len(fams) == 0:
			c.Detail = "no metrics exposed"
		default:
			var erl []string
			for name := range fams {
				if strings.HasPrefix(name, "erlmcp_") {
					erl = append(erl, name)
				}
			}
			sort.Strings(erl)
			c.Passed = true
			c.Detail = fmt.Sprintf("%d metric families", len(fams))
			if len(erl) == 0 {
				c.Warning = true
				c.Detail += "; no erlmcp_* metrics"
			} else {
				if len(erl) > 5 {
					erl = append(erl[:5], "…")
				}
				c.Detail += " (" + strings.Join(erl, ", ") + ")"
			}
		}
	}
	e.add(e.latencyRule(c, 0))
}

// mcp connects to the MCP endpoint; each HTTP request is held to max-response-time.
func (e *engine) mcp(ctx context.Context) {
	name := "MCP " + e.opts.MCPURL
	if u, err := url.Parse(e.opts.MCPURL); err == nil && strings.HasPrefix(e.opts.MCPURL, strings.TrimRight(e.opts.BaseURL, "/")) {
		name = "MCP " + u.Path
	}
	r, err := mcpcheck.Check(ctx, mcpcheck.Options{Endpoint: e.opts.MCPURL, HTTPClient: e.client, Headers: e.opts.Headers,
		ExpectTools: e.opts.MCPExpectTools, Timeout: max(10*time.Second, 4*e.timeout)})
	e.res.MCP = &r
	c := Check{Name: name, Latency: r.MaxLatency}
	if err != nil {
		c.Detail = err.Error()
	} else {
		c.Passed = true
		server := r.ServerName
		if r.ServerVersion != "" {
			server += " " + r.ServerVersion
		}
		c.Detail = fmt.Sprintf("%s, protocol %s, tools: %s", server, r.ProtocolVersion, strings.Join(r.Tools, ", "))
		if r.SessionID != "" {
			c.Detail += ", session id issued"
		}
	}
	if c.Latency > e.opts.MaxResponseTime {
		c.Detail = fmt.Sprintf("slowest of %d MCP requests %s", r.Requests, c.Detail)
	}
	e.add(e.latencyRule(c, 0))
}

func (e *engine) load(ctx context.Context) {
	lo := e.opts.Load
	target := lo.URL
	if target == "" {
		target = e.opts.BaseURL
		if e.opts.Suite == SuiteErlmcp {
			target = e.join("/health/live")
		}
	}
	end := e.log.Group(fmt.Sprintf("Load gate: %s for %s", target, lo.Duration))
	defer end()
	res, err := loadgate.Run(ctx, loadgate.Options{URL: target, Headers: e.opts.Headers, Transport: e.tr, RequestTimeout: e.timeout, Duration: lo.Duration,
		Concurrency: lo.Concurrency, Rate: lo.Rate, MaxRequests: lo.MaxRequests})
	c := Check{Name: "load gate"}
	if res != nil {
		e.res.Load = res
		res.Check(lo.Gates)
		c.Latency = res.P99
	}
	switch {
	case err != nil:
		c.Detail = err.Error()
	case !res.Passed():
		c.Detail = strings.Join(res.Violations, "; ")
	default:
		c.Passed = true
	}
	if res != nil {
		summary := fmt.Sprintf("%s: %d requests, %.1f req/s, p50 %s, p95 %s, p99 %s, errors %.2f%%",
			res.Mode, res.Requests, res.RPS, Round(res.P50), Round(res.P95), Round(res.P99), 100*res.ErrorRate)
		if c.Detail == "" {
			c.Detail = summary
		} else {
			c.Detail += " (" + summary + ")"
		}
	}
	e.add(c)
}

// NewTransport returns the transport of every request: TLS from caFile
// (added to the system roots) or with verification skipped.
func NewTransport(insecure bool, caFile string) (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca-file %s: no PEM certificate found", caFile)
		}
		cfg.RootCAs = pool
	}
	cfg.InsecureSkipVerify = insecure //nolint:gosec // an explicit, warned-about input
	tr.TLSClientConfig = cfg
	return tr, nil
}

// connectTo sends tr's connections to base's host and port to addr instead,
// never through a proxy (curl's --connect-to); other hosts are untouched.
func connectTo(tr *http.Transport, base, addr string) {
	u, _ := url.Parse(base) // checked by CheckURL
	target := hostPort(u)
	dial := tr.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	tr.DialContext = func(ctx context.Context, network, a string) (net.Conn, error) {
		if strings.EqualFold(a, target) {
			a = addr
		}
		return dial(ctx, network, a)
	}
	proxy := tr.Proxy
	tr.Proxy = func(r *http.Request) (*url.URL, error) {
		if proxy == nil || strings.EqualFold(hostPort(r.URL), target) {
			return nil, nil
		}
		return proxy(r)
	}
}

// hostPort is the host:port a request to u dials.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// NewClient returns a client on tr with a per-request timeout that stops
// redirect loops with a clear error.
func NewClient(tr http.RoundTripper, timeout time.Duration) *http.Client {
	return &http.Client{Transport: tr, Timeout: timeout, CheckRedirect: checkRedirect}
}

func checkRedirect(req *http.Request, via []*http.Request) error {
	for _, v := range via {
		if v.URL.String() == req.URL.String() {
			return fmt.Errorf("redirect loop: %s redirects back to %s after %d redirect(s)",
				via[len(via)-1].URL, req.URL, len(via))
		}
	}
	if len(via) >= maxRedirects {
		return fmt.Errorf("too many redirects: stopped after %d (from %s, last to %s)", len(via), via[0].URL, req.URL)
	}
	return nil
}

// CheckURL accepts absolute http(s) URLs with a host.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL", raw)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q is not an http(s) URL", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	return nil
}

// ResolveURL turns a path (/mcp) into a URL on base; an absolute http(s) URL is returned as is.
func ResolveURL(base, pathOrURL string) (string, error) {
	if strings.HasPrefix(pathOrURL, "/") {
		return strings.TrimRight(base, "/") + pathOrURL, nil
	}
	if err := CheckURL(pathOrURL); err != nil {
		return "", fmt.Errorf("%q is neither a path starting with / nor an http(s) URL", pathOrURL)
	}
	return pathOrURL, nil
}

// Round keeps durations readable.
func Round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

func bodyNote(b []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "")), " ")
	if s == "" {
		return ""
	}
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return ": " + s
}

func byteCount(n int) string {
	if n < 1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%.1f KiB", float64(n)/1024)
}
