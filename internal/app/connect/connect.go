// Package connect builds the cluster client of the deploy and rollback
// adapters from their kubeconfig and context inputs.
package connect

import (
	"net/http"

	"github.com/org/erlmcp-deploy/internal/waves"

	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/kube"
)

// Kube builds the cluster client from the kubeconfig/context inputs and
// masks the credentials of every kubeconfig it read.
func Kube(rt *ghaction.Runtime) (*kube.Client, error) {
	c, err := kube.Load(kube.Source{Kubeconfig: rt.String("kubeconfig"), Context: rt.String("context"), Getenv: rt.Getenv,
		UserAgent: "erlmcp-deploy", Retry: kube.Retry{OnRetry: func(e kube.RetryEvent) {
			if e.Attempt == 1 { // one line per request that needed retries; a final failure is reported with the request
				rt.Warnf("the API server answered %d %s to %s %s; retrying with backoff (up to %d tries)",
					e.Status, http.StatusText(e.Status), e.Method, e.Path, e.Attempts)
			}
		}}})
	if err != nil {
		return nil, err
	}
	for _, k := range c.Kubeconfigs {
		rt.MaskKubeconfig(k)
	}
	if c.Config.BearerToken != "" {
		rt.Mask(c.Config.BearerToken)
	}
	ctx := c.Context
	if ctx == "" {
		ctx = "-"
	}
	rt.Infof("cluster %s (context %s, credentials from %s)", c.Config.Host, ctx, c.Origin)
	return c, nil
}

// ContextsAccepted says what the contexts input takes.
const ContextsAccepted = "kubeconfig contexts, one wave per line, the contexts of a wave comma-separated"

// Targets reads the contexts input and checks every context against the
// kubeconfig before anything changes: the waves and each context's
// namespace (the kubeconfig's, else the namespace input). Problems are
// recorded as invalid inputs.
func Targets(rt *ghaction.Runtime) ([][]string, map[string]string) {
	plan, err := waves.Parse(rt.String("contexts"))
	if err != nil {
		rt.Invalid("contexts", err.Error(), ContextsAccepted)
		return nil, nil
	}
	if rt.String("context") != "" {
		rt.Invalid("context", "is replaced by contexts (give one or the other)", "empty when contexts is set")
	}
	ns := map[string]string{}
	for _, w := range plan {
		for _, c := range w {
			kc, err := kube.Load(kube.Source{Kubeconfig: rt.String("kubeconfig"), Context: c, Getenv: rt.Getenv})
			if err != nil {
				rt.Invalid("contexts", err.Error(), ContextsAccepted)
				return nil, nil
			}
			for _, k := range kc.Kubeconfigs {
				rt.MaskKubeconfig(k)
			}
			ns[c] = kc.Namespace
			if ns[c] == "" {
				ns[c] = rt.String("namespace")
			}
		}
	}
	return plan, ns
}

// ForkOverrides are the inputs a context's own run gets: its context and
// namespace, and no Slack or GitHub of its own (the whole run reports once).
func ForkOverrides(context, namespace string) map[string]string {
	return map[string]string{"context": context, "namespace": namespace, "contexts": "", "slack-token": "", "slack-webhook": "", "github-token": ""}
}
