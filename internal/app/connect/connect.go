// Package connect builds the cluster client of the deploy and rollback
// adapters from their kubeconfig and context inputs.
package connect

import (
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/kube"
)

// Kube builds the cluster client from the kubeconfig/context inputs and
// masks the credentials of every kubeconfig it read.
func Kube(rt *ghaction.Runtime) (*kube.Client, error) {
	c, err := kube.Load(kube.Source{Kubeconfig: rt.String("kubeconfig"), Context: rt.String("context"), Getenv: rt.Getenv,
		UserAgent: "erlmcp-deploy"})
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
