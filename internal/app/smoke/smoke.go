// Package smoke wires the smoke action's inputs to its engine and its outputs.
package smoke

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/org/erlmcp-deploy/internal/app/setup"
	"github.com/org/erlmcp-deploy/internal/checks"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/loadgate"
	"github.com/org/erlmcp-deploy/internal/notify"
	engine "github.com/org/erlmcp-deploy/internal/smoke"
	"github.com/org/erlmcp-deploy/internal/summary"
)

// Run reads and validates every input, runs the smoke test, and reports.
func Run(ctx context.Context, rt *ghaction.Runtime) error {
	setup.ApplyConfig(rt)
	if err := rt.ValidateAll(); err != nil {
		return err
	}
	target, forwarding := forwardTarget(rt)
	opts, urls := options(rt, forwarding)
	if err := rt.InputErr(); err != nil {
		return err
	}
	if opts.InsecureSkipVerify {
		rt.Warnf("insecure-skip-tls-verify is on: TLS certificates of %s are not verified", opts.BaseURL)
	}
	opts.Log = rt
	what := opts.BaseURL
	var fwd *forward
	if forwarding {
		given := strings.TrimSpace(rt.String("base-url"))
		what = fmt.Sprintf("port-forward %s (namespace %s)", target, rt.String("namespace"))
		if given != "" {
			what = given + " through " + what
		}
		var failed *engine.Check
		var err error
		if fwd, failed, err = openForward(ctx, rt, *target, opts.Wait); err != nil {
			return err
		}
		if failed != nil {
			res := &engine.Result{BaseURL: given, Environment: opts.Environment, Suite: opts.Suite, Started: time.Now(),
				Checks: []engine.Check{*failed}}
			return finish(ctx, rt, opts, what, res)
		}
		defer fwd.Close()
		fwd.apply(rt, &opts, urls, given != "")
	}
	where := what
	if opts.Environment != "" {
		where = opts.Environment + " (" + what + ")"
	}
	rt.Infof("smoke-testing %s: suite %s, %d check(s) from the checks file", where, opts.Suite, len(opts.Checks))
	res, err := engine.Run(ctx, opts)
	if err != nil {
		return err
	}
	if fwd != nil {
		fwd.conclude(rt, res)
	}
	return finish(ctx, rt, opts, what, res)
}

// finish redacts the result, writes the reports, outputs, summary and Slack
// message, and returns the verdict.
func finish(ctx context.Context, rt *ghaction.Runtime, opts engine.Options, what string, res *engine.Result) error {
	// The report files are not redacted by the runtime: an answer quoted in a
	// detail could echo a header back.
	for i := range res.Checks {
		res.Checks[i].Detail = rt.Redact(res.Checks[i].Detail)
	}
	if res.Load != nil {
		for i, v := range res.Load.Violations {
			res.Load.Violations[i] = rt.Redact(v)
		}
	}
	jsonPath, junitPath, werr := engine.WriteReports(reportDir(rt), res)
	if werr != nil {
		rt.Errorf("%v", werr)
	}
	report(rt, opts, what, res, jsonPath, junitPath)
	notifySlack(ctx, rt, opts, what, res)
	if ctx.Err() != nil {
		return fmt.Errorf("smoke test interrupted: %w", ctx.Err())
	}
	if !res.OK() {
		_, failed, total := res.Counts()
		return fmt.Errorf("%d of %d smoke checks failed: %s", failed, total, strings.Join(res.FailedNames(), ", "))
	}
	return werr
}

// urlInputs are the inputs resolved against the base URL, kept to resolve
// them again once a port-forward gives the base URL its port.
type urlInputs struct{ mcpPath, dashboard string }

// forwardBase stands for the port-forward's local address until it is open.
const forwardBase = "http://127.0.0.1"

// options turns the inputs into engine options, recording invalid ones.
func options(rt *ghaction.Runtime, forwarding bool) (engine.Options, urlInputs) {
	o := engine.Options{
		BaseURL: strings.TrimSpace(rt.String("base-url")), Environment: rt.String("environment"), Suite: rt.Enum("suite"),
		MCPExpectTools: rt.List("mcp-expect-tools"), MaxResponseTime: rt.Duration("max-response-time"),
		Wait: rt.Duration("wait"), FailOnDegraded: rt.Bool("fail-on-degraded"),
		InsecureSkipVerify: rt.Bool("insecure-skip-tls-verify"), CAFile: rt.String("ca-file"),
	}
	baseOK := true
	switch {
	case o.BaseURL != "":
		if err := engine.CheckURL(o.BaseURL); err != nil {
			rt.Invalid("base-url", err.Error(), "http://host[:port][/prefix] or https://...")
			baseOK = false
		}
	case forwarding:
		o.BaseURL = forwardBase
	default:
		rt.Invalid("base-url", "is required unless port-forward is set", "http://host[:port][/prefix] or https://..., or leave it empty and set port-forward")
		baseOK = false
	}
	if rt.Has("max-response-time") && o.MaxResponseTime <= 0 {
		rt.Invalid("max-response-time", "must be longer than 0", "a Go duration such as 500ms, 1s, 2s")
	}
	urls := urlInputs{mcpPath: strings.TrimSpace(rt.String("mcp-path")), dashboard: strings.TrimSpace(rt.String("dashboard-url"))}
	if baseOK {
		resolveURLs(rt, &o, urls)
	}
	o.Headers = headers(rt)
	if o.CAFile != "" {
		if _, err := os.Stat(o.CAFile); err != nil {
			rt.Invalid("ca-file", err.Error(), "a readable PEM file")
		}
	}
	if path := rt.String("checks-file"); path != "" {
		f, secrets, err := checks.Load(path, rt.Getenv)
		for _, s := range secrets {
			rt.Mask(s)
		}
		if err != nil {
			rt.Invalid("checks-file", err.Error(), "")
		} else {
			o.Checks = f.Checks
		}
	}
	if d := rt.Duration("load-duration"); d > 0 {
		if d > loadgate.MaxDuration {
			rt.Invalid("load-duration", fmt.Sprintf("%s is longer than %s", d, loadgate.MaxDuration), "0 (off) up to 1h")
		}
		conc := rt.Int("load-concurrency")
		if conc < 1 || conc > 10_000 {
			rt.Invalid("load-concurrency", fmt.Sprintf("%d is out of range", conc), "1 to 10000")
		}
		rate, _ := rt.Float("load-rate")
		lo := &engine.LoadOptions{Duration: d, Concurrency: conc, Rate: rate, Gates: loadgate.Gates{
			P50: rt.Duration("load-p50"), P95: rt.Duration("load-p95"), P99: rt.Duration("load-p99"),
		}}
		lo.Gates.MinRPS, _ = rt.Float("load-min-rps")
		if v, ok := rt.Float("load-max-error-rate"); ok {
			if v > 1 {
				rt.Invalid("load-max-error-rate", fmt.Sprintf("%g is more than 1", v), "a fraction 0..1 or a percentage such as 1%")
			}
			lo.Gates.MaxErrorRate = &v
		}
		o.Load = lo
	}
	return o, urls
}

// resolveURLs resolves mcp-path and dashboard-url against o.BaseURL.
func resolveURLs(rt *ghaction.Runtime, o *engine.Options, urls urlInputs) {
	o.MCPURL = ""
	if urls.mcpPath != "" {
		u, err := engine.ResolveURL(o.BaseURL, urls.mcpPath)
		if err != nil {
			rt.Invalid("mcp-path", err.Error(), "/mcp, an http(s) URL, or empty to skip the MCP check")
		}
		o.MCPURL = u
	}
	if urls.dashboard != "" {
		u, err := engine.ResolveURL(o.BaseURL, urls.dashboard)
		if err != nil {
			rt.Invalid("dashboard-url", err.Error(), "an http(s) URL or a path starting with /")
		}
		o.DashboardURL = u
	}
}

func reportDir(rt *ghaction.Runtime) string {
	if dir := rt.String("report-dir"); dir != "" {
		return dir
	}
	return filepath.Join(setup.TempDir(rt), "erlmcp-smoke")
}

// headers parses the `Name: value` lines of the headers input and masks each value.
func headers(rt *ghaction.Runtime) http.Header {
	h := http.Header{}
	for i, line := range rt.List("headers") {
		name, value, ok := strings.Cut(line, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			// Never echo the line: it may hold a secret.
			rt.Invalid("headers", fmt.Sprintf("line %d is not `Name: value`", i+1), "one `Name: value` per line")
			continue
		}
		rt.Mask(value)
		if _, token, ok := strings.Cut(value, " "); ok {
			rt.Mask(strings.TrimSpace(token)) // the token of "Bearer <token>"
		}
		h.Add(name, value)
	}
	return h
}

// report sets the outputs and writes the job summary.
func report(rt *ghaction.Runtime, opts engine.Options, what string, res *engine.Result, jsonPath, junitPath string) {
	passed, failed, total := res.Counts()
	rt.SetOutput("passed", strconv.Itoa(passed))
	rt.SetOutput("total", strconv.Itoa(total))
	rt.SetOutput("failed", strconv.Itoa(failed))
	rt.SetOutput("report", jsonPath)
	rt.SetOutput("junit", junitPath)
	ms := func(d time.Duration) string { return strconv.FormatFloat(engine.MS(d), 'f', 1, 64) }
	if l := res.Load; l != nil {
		rt.SetOutput("p50-ms", ms(l.P50))
		rt.SetOutput("p95-ms", ms(l.P95))
		rt.SetOutput("p99-ms", ms(l.P99))
		rt.SetOutput("rps", strconv.FormatFloat(l.RPS, 'f', 1, 64))
		rt.SetOutput("error-rate", strconv.FormatFloat(l.ErrorRate, 'f', 4, 64))
	} else {
		for _, n := range []string{"p50-ms", "p95-ms", "p99-ms", "rps", "error-rate"} {
			rt.SetOutput(n, "")
		}
	}

	s := rt.Summary()
	target := what
	if opts.Environment != "" {
		target = opts.Environment
	}
	if res.OK() {
		s.Heading(2, fmt.Sprintf("✅ Smoke test of %s passed (%d/%d)", target, passed, total))
	} else {
		s.Heading(2, fmt.Sprintf("❌ Smoke test of %s failed (%d of %d checks failed)", target, failed, total))
	}
	rows := make([][]string, 0, len(res.Checks))
	for _, c := range res.Checks {
		verdict := "✅ pass"
		switch {
		case !c.Passed:
			verdict = "❌ fail"
		case c.Warning:
			verdict = "⚠️ warn"
		}
		lat := ""
		if c.Latency > 0 {
			lat = engine.Round(c.Latency).String()
		}
		rows = append(rows, []string{c.Name, verdict, lat, c.Detail})
	}
	s.Table([]string{"check", "result", "latency", "detail"}, rows)
	if l := res.Load; l != nil {
		s.Heading(3, "Load gate")
		mode := fmt.Sprintf("%s, %d workers", l.Mode, l.Concurrency)
		if l.Rate > 0 {
			mode = fmt.Sprintf("%s, %g req/s, up to %d in flight", l.Mode, l.Rate, l.Concurrency)
		}
		kv := [][2]string{
			{"Target", summary.InlineCode(l.URL)},
			{"Model", mode},
			{"Duration", engine.Round(l.Elapsed).String()},
			{"Requests", fmt.Sprintf("%d (%d errors, %.2f%%)", l.Requests, l.Errors, 100*l.ErrorRate)},
			{"Throughput", fmt.Sprintf("%.1f req/s", l.RPS)},
			{"Latency", fmt.Sprintf("p50 %s · p95 %s · p99 %s · max %s", engine.Round(l.P50), engine.Round(l.P95), engine.Round(l.P99), engine.Round(l.Max))},
		}
		if len(l.Violations) > 0 {
			kv = append(kv, [2]string{"Violations", strings.Join(l.Violations, "; ")})
		}
		s.KeyValues(kv)
	}
	if jsonPath != "" {
		s.Para(fmt.Sprintf("Reports: %s, %s", summary.InlineCode(jsonPath), summary.InlineCode(junitPath)))
	}
}

// notifySlack updates the run's Slack message (slack-thread) with the verdict.
func notifySlack(ctx context.Context, rt *ghaction.Runtime, opts engine.Options, what string, res *engine.Result) {
	slack := setup.Notifier(rt, "")
	if !slack.Enabled() {
		return
	}
	passed, failed, total := res.Counts()
	ev := setup.Event(rt, "smoke", opts.Environment, notify.StatusSucceeded)
	if !res.OK() {
		ev.Status = notify.StatusFailed
		ev.Reason = strings.Join(res.FailedNames(), ", ")
	}
	ev.Details = []notify.Field{{Name: "Checks", Value: fmt.Sprintf("%d/%d passed, %d failed", passed, total, failed)}, {Name: "Service", Value: what}}
	rt.SetOutput("slack-ts", slack.NotifyBestEffort(ctx, ev))
}
