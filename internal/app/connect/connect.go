// Package connect builds the cluster client of the deploy and rollback
// adapters from their kubeconfig and context inputs.
package connect

import (
	"net/http"

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
	if c.Namespace != "" && hasInput(rt, "namespace") && !rt.Has("namespace") {
		// As kubectl does: the context's namespace, unless the run names one.
		rt.DefaultTo("namespace", c.Namespace)
		rt.Infof("namespace %s (the namespace of context %s; set the namespace input to choose another)", c.Namespace, c.Context)
	}
	ctx := c.Context
	if ctx == "" {
		ctx = "-"
	}
	rt.Infof("cluster %s (context %s, credentials from %s)", c.Config.Host, ctx, c.Origin)
	return c, nil
}

func hasInput(rt *ghaction.Runtime, name string) bool {
	_, ok := rt.Spec().Input(name)
	return ok
}
