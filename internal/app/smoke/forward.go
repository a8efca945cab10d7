package smoke

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/org/erlmcp-deploy/internal/app/connect"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/portforward"
	engine "github.com/org/erlmcp-deploy/internal/smoke"
)

// forwardTarget parses the port-forward input; given reports whether it was
// set (a malformed value is recorded as invalid, with a nil target).
func forwardTarget(rt *ghaction.Runtime) (target *portforward.Target, given bool) {
	s := strings.TrimSpace(rt.String("port-forward"))
	if s == "" {
		for _, in := range []string{"kubeconfig", "context"} {
			if rt.Has(in) {
				rt.Debugf("%s is used only with port-forward", in)
			}
		}
		return nil, false
	}
	t, err := portforward.ParseTarget(s)
	if err != nil {
		rt.Invalid("port-forward", err.Error(), portforward.Accepted)
		return nil, true
	}
	return &t, true
}

// forward is an open port-forward and what it led to.
type forward struct {
	*portforward.Forward
	target   portforward.Target
	via      string
	hostKept bool
}

// openForward resolves the target to a Ready pod and opens the forward. A
// target the cluster does not have is an input error (nothing was tested); no
// Ready pod within wait is a failed check (the service is down); a refused
// permission or an unreachable API server is an error naming its step.
func openForward(ctx context.Context, rt *ghaction.Runtime, t portforward.Target, wait time.Duration) (*forward, *engine.Check, error) {
	end := rt.Group("Port-forward " + t.String())
	defer end()
	kc, err := connect.Kube(rt)
	if err != nil {
		return nil, nil, fmt.Errorf("port-forward %s: %w", t, err)
	}
	ns := rt.String("namespace")
	r := &portforward.Resolver{Client: kc.Clientset, Namespace: ns, Wait: wait, Log: rt}
	res, err := r.Resolve(ctx, t)
	var te *portforward.TargetError
	var nr *portforward.NoReadyPodError
	switch {
	case errors.As(err, &te):
		return nil, nil, &ghaction.InputError{Name: "port-forward", Reason: fmt.Sprintf("%s: %s (nothing was tested)", t, te.Reason), Accepted: portforward.Accepted}
	case errors.As(err, &nr):
		c := engine.Check{Name: "port-forward", Detail: nr.Error()}
		rt.Errorf("✗ port-forward: %s", c.Detail)
		return nil, &c, nil
	case err != nil:
		return nil, nil, err
	}
	f, err := portforward.Open(ctx, portforward.Options{Config: kc.Config, REST: kc.Clientset.CoreV1().RESTClient(),
		Namespace: ns, Pod: res.Pod, Port: res.Port, Log: rt})
	if err != nil {
		return nil, nil, err
	}
	rt.Infof("✓ port-forward: %s, over %s; listening on %s", res.Via, f.Protocol, f.Addr)
	return &forward{Forward: f, target: t, via: res.Via}, nil, nil
}

// apply points the engine at the forward: http://127.0.0.1:<port> as the base
// URL, or, when base-url is given, every connection to its host and port
// (requests keep its Host, TLS name and path).
func (f *forward) apply(rt *ghaction.Runtime, o *engine.Options, urls urlInputs, baseGiven bool) {
	if !baseGiven {
		o.BaseURL = "http://" + f.Addr
		resolveURLs(rt, o, urls)
		return
	}
	o.ConnectTo, f.hostKept = f.Addr, true
	rt.Infof("requests keep %s (Host header, TLS name, path) and connect to %s", o.BaseURL, f.Addr)
}

// conclude puts the forward first among the checks: passed, or failed with
// what the pod's side said when connections failed and so did checks (a
// warning when the checks passed anyway).
func (f *forward) conclude(rt *ghaction.Runtime, res *engine.Result) {
	c := engine.Check{Name: "port-forward", Passed: true, Detail: fmt.Sprintf("%s over %s (%s)", f.via, f.Protocol, f.Addr)}
	if err := f.Err(); err != nil {
		if res.OK() {
			c.Warning, c.Detail = true, c.Detail+"; "+err.Error()
			rt.Warnf("! port-forward: %s", c.Detail)
		} else {
			c.Passed, c.Detail = false, err.Error()+" ("+f.via+")"
			rt.Errorf("✗ port-forward: %s", c.Detail)
		}
	}
	res.Checks = append([]engine.Check{c}, res.Checks...)
	if f.hostKept && !res.OK() && refusedHost(res) {
		u, _ := url.Parse(res.BaseURL)
		rt.Warnf("through a port-forward the pod sees a connection from loopback; a server with DNS-rebinding protection "+
			"(the MCP go-sdk's default, the MCP spec's advice) refuses a Host that is not loopback there, such as %q: "+
			"leave base-url empty to send Host %s", u.Host, f.Addr)
	}
}

// refusedHost reports a check answered 403 about the Host header.
func refusedHost(res *engine.Result) bool {
	for _, c := range res.Checks {
		if !c.Passed && strings.Contains(c.Detail, "403") && strings.Contains(strings.ToLower(c.Detail), "host") {
			return true
		}
	}
	return false
}
