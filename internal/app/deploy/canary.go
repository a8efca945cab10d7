package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/org/erlmcp-deploy/internal/analysis"
	"github.com/org/erlmcp-deploy/internal/app/connect"
	"github.com/org/erlmcp-deploy/internal/app/setup"
	"github.com/org/erlmcp-deploy/internal/bluegreen"
	"github.com/org/erlmcp-deploy/internal/canary"
	"github.com/org/erlmcp-deploy/internal/checks"
	engine "github.com/org/erlmcp-deploy/internal/deploy"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/kube"
	"github.com/org/erlmcp-deploy/internal/portforward"
	render "github.com/org/erlmcp-deploy/internal/report"
	"github.com/org/erlmcp-deploy/internal/ui"
)

// strategy is how an image is rolled out: each one ends in the verify step
// and fills the image deploy's Result.
type strategy interface {
	run(ctx context.Context, opts engine.Options) (*engine.Result, error)
}

// rolling is the Deployment's own rolling update (package deploy).
type rolling struct{ dp *engine.Deployer }

func (r rolling) run(ctx context.Context, opts engine.Options) (*engine.Result, error) {
	return r.dp.Run(ctx, opts)
}

// canaryStrategy grows a canary through its steps, judged by the verdict and the analysis.
type canaryStrategy struct {
	rt   *ghaction.Runtime
	c    *canary.Canary
	opts canary.Options
}

func (s canaryStrategy) run(ctx context.Context, opts engine.Options) (*engine.Result, error) {
	s.opts.Deploy = opts
	res, err := s.c.Run(ctx, s.opts)
	s.rt.SetOutput("canary-share", strconv.FormatFloat(res.MaxShare, 'f', 3, 64))
	var de *canary.DecisionError
	if errors.As(err, &de) {
		return res.Deploy, ghaction.InputErrors{{Name: "canary-decision", Reason: de.Msg, Accepted: "promote or abort, only while a canary waits for a decision"}}
	}
	s.rt.Summary().Para(render.Canary(res).String())
	return res.Deploy, err
}

// canaryOptions reads and checks the canary inputs (before anything
// connects); the canary checks log through log.
func canaryOptions(rt *ghaction.Runtime, log ui.Logger) canary.Options {
	steps, err := canary.ParseSteps(rt.List("canary-steps"))
	if err != nil {
		rt.Invalid("canary-steps", err.Error(), "increasing percentages from 1 to 99, e.g. 10,50")
	}
	o := canary.Options{Steps: steps, Interval: rt.Duration("canary-interval"), Count: rt.Int("canary-analysis-count"),
		Baseline: rt.Bool("canary-baseline"), Decision: rt.String("canary-decision")}
	if o.Interval <= 0 {
		rt.Invalid("canary-interval", "must be longer than 0", "a Go duration such as 30s, 1m")
	}
	if o.Count < 1 {
		rt.Invalid("canary-analysis-count", "must be at least 1", "a whole number such as 3")
	}
	switch o.Decision {
	case "", "promote", "abort":
	default:
		rt.Invalid("canary-decision", fmt.Sprintf("%q is not a decision", o.Decision), "promote or abort")
	}
	o.Checks = canaryChecksOption(rt, log)
	if path := rt.String("analysis"); path != "" {
		spec, err := analysis.Load(path)
		var fe *analysis.FileError
		switch {
		case errors.As(err, &fe):
			rt.InvalidAt("analysis", fe.Msg, "see docs/canary.md for the analysis file", fe.File, fe.Line)
		case err != nil:
			rt.Invalid("analysis", err.Error(), "a YAML analysis file")
		}
		o.Analysis = spec
		if spec != nil {
			checkSamples(rt, spec, o.Interval, o.Count)
		}
		url := rt.String("prometheus-url")
		if url == "" {
			rt.Invalid("prometheus-url", "is required with analysis", "the base URL of a Prometheus server, e.g. http://prometheus.monitoring:9090")
		} else if o.Source, err = analysis.NewPrometheus(url); err != nil {
			rt.Invalid("prometheus-url", err.Error(), "the base URL of a Prometheus server, e.g. http://prometheus.monitoring:9090")
		}
	}
	return o
}

// checkSamples refuses an analysis whose judges cannot reach their α with
// the samples a step gives them. The file's count: decides, or else the
// canary-analysis-count input, so that is the input the error names.
func checkSamples(rt *ghaction.Runtime, spec *analysis.Spec, interval time.Duration, count int) {
	err := spec.CheckSamples(interval, count)
	var fe *analysis.FileError
	switch {
	case err == nil:
	case !errors.As(err, &fe):
		rt.Invalid("analysis", err.Error(), "a YAML analysis file")
	case spec.Count > 0:
		rt.InvalidAt("analysis", fe.Msg, "a count:, interval: and judge.step that give every judge metric enough samples per step (see docs/canary.md)", fe.File, fe.Line)
	default:
		rt.Invalid("canary-analysis-count", fe.Error(), "enough measurements per step for every judge metric of the analysis file to reach its confidence (see docs/canary.md)")
	}
}

// canaryChecks runs the canary-checks file against a Ready pod of the
// canary's Deployment, through a port-forward (as the smoke action's
// port-forward does), so only the canary's pods answer.
type canaryChecks struct {
	rt     *ghaction.Runtime
	log    ui.Logger
	checks []checks.Check
	port   string

	once sync.Once
	kc   *kube.Client
	err  error
}

// canaryChecksOption reads canary-checks and canary-port (nil when no checks file is given).
func canaryChecksOption(rt *ghaction.Runtime, log ui.Logger) func(context.Context, string) error {
	path := rt.String("canary-checks")
	port := strings.TrimSpace(rt.String("canary-port"))
	if path == "" {
		return nil
	}
	cc := &canaryChecks{rt: rt, log: log, port: port}
	if _, err := portforward.ParseTarget("deployment/canary:" + port); err != nil {
		rt.Invalid("canary-port", err.Error(), "a port number or a container port name of the canary's pods, e.g. 8080 or http")
	}
	f, secrets, err := checks.Load(path, rt.Getenv)
	for _, s := range secrets {
		rt.Mask(s)
	}
	if err != nil {
		rt.Invalid("canary-checks", err.Error(), "a checks file, as the smoke action's checks-file")
		return nil
	}
	for _, c := range f.Checks {
		if c.URL != "" {
			rt.InvalidAt("canary-checks", fmt.Sprintf("check %s has url: %s; canary checks are sent to the canary's pods, so each names a path:", c.Name, c.URL),
				"a checks file whose checks have path:, not url:", path, c.Line)
			return nil
		}
	}
	cc.checks = f.Checks
	return cc.run
}

// run forwards to a Ready pod of deployment (the canary's) and runs every
// check; the error names each failed check.
func (cc *canaryChecks) run(ctx context.Context, deployment string) error {
	rt, log := cc.rt, cc.log
	t := portforward.Target{Kind: portforward.KindDeployment, Name: deployment, Port: cc.port}
	end := log.Group(fmt.Sprintf("Canary checks: %d check(s) against %s", len(cc.checks), t))
	defer end()
	cc.once.Do(func() { cc.kc, cc.err = connect.Kube(rt) })
	if cc.err != nil {
		return fmt.Errorf("port-forward %s: %w", t, cc.err)
	}
	ns := rt.String("namespace")
	r := &portforward.Resolver{Client: cc.kc.Clientset, Namespace: ns, Wait: 30 * time.Second, Log: log}
	res, err := r.Resolve(ctx, t)
	if err != nil {
		return fmt.Errorf("port-forward %s: %w", t, err)
	}
	f, err := portforward.Open(ctx, portforward.Options{Config: cc.kc.Config, REST: cc.kc.Clientset.CoreV1().RESTClient(),
		Namespace: ns, Pod: res.Pod, Port: res.Port, Log: log})
	if err != nil {
		return fmt.Errorf("port-forward %s: %w", t, err)
	}
	defer f.Close()
	log.Infof("port-forward: %s, over %s; listening on %s", res.Via, f.Protocol, f.Addr)
	runner := &checks.Runner{Client: &http.Client{Timeout: 30 * time.Second}, BaseURL: "http://" + f.Addr}
	var failed []string
	for _, c := range cc.checks {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		out := runner.Run(ctx, c)
		if out.Passed {
			log.Infof("✓ check: %s (%s)", c.Name, out.Latency.Round(time.Millisecond))
			continue
		}
		log.Errorf("✗ check: %s: %s", c.Name, out.Detail)
		failed = append(failed, c.Name+": "+out.Detail)
	}
	if len(failed) == 0 {
		return nil
	}
	msg := fmt.Sprintf("%d of %d against pod %s failed: %s", len(failed), len(cc.checks), res.Pod, strings.Join(failed, "; "))
	if ferr := f.Err(); ferr != nil {
		msg += " (port-forward: " + ferr.Error() + ")"
	}
	return errors.New(msg)
}

// blueGreen switches the live Service to a green Deployment.
type blueGreen struct {
	rt   *ghaction.Runtime
	b    *bluegreen.BlueGreen
	opts bluegreen.Options
}

func (s blueGreen) run(ctx context.Context, opts engine.Options) (*engine.Result, error) {
	s.opts.Deploy = opts
	res, err := s.b.Run(ctx, s.opts)
	s.rt.Summary().Para(render.BlueGreen(res).String())
	return res.Deploy, err
}

// blueGreenOptions reads and checks the blue-green inputs.
func blueGreenOptions(rt *ghaction.Runtime) bluegreen.Options {
	o := bluegreen.Options{Service: rt.String("service"), Keep: rt.Duration("blue-green-keep")}
	if o.Service == "" {
		o.Service = rt.String("deployment")
	}
	if o.Keep < 0 {
		rt.Invalid("blue-green-keep", "must not be negative", "a Go duration such as 0s, 5m")
	}
	if check := setup.URLCheck(rt, "preview-url"); check != nil {
		o.Preview = func(ctx context.Context, _ string) error { return check(ctx) }
	}
	return o
}

// pickStrategy is the strategy input's implementation. Whatever it is, it
// first undoes what an unfinished canary or blue-green of the Deployment
// left, under the deploy lock (progressive.Settle); a failure to do so stops it.
func pickStrategy(rt *ghaction.Runtime, log ui.Logger, kc *kube.Client, co canary.Options, bo bluegreen.Options) strategy {
	dp := &engine.Deployer{Client: kc.Clientset, Log: log}
	switch rt.Enum("strategy") {
	case "canary":
		return canaryStrategy{rt: rt, c: &canary.Canary{Client: kc.Clientset, Log: log, Deployer: dp}, opts: co}
	case "blue-green":
		return blueGreen{rt: rt, b: &bluegreen.BlueGreen{Client: kc.Clientset, Log: log, Deployer: dp}, opts: bo}
	}
	return rolling{dp: dp}
}
