package testcluster

import (
	"context"
	"embed"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// kwokCRDs are the kwok kinds kwok watches in the API server (--enable-crds)
// rather than reads from its --config: tests create them at run time.
const kwokCRDs = "ClusterPortForward,ClusterLogs,Logs"

// kwokCRDFiles are kwok's own CRDs for ClusterLogs and Logs (see kwokcrds/README.md).
//
//go:embed kwokcrds/*.yaml
var kwokCRDFiles embed.FS

// kwokCRDPaths are the API paths that serve each kind of kwokCRDs.
var kwokCRDPaths = []string{
	"/apis/kwok.x-k8s.io/v1alpha1/clusterportforwards",
	"/apis/kwok.x-k8s.io/v1alpha1/clusterlogs",
	"/apis/kwok.x-k8s.io/v1alpha1/logs",
}

// createKwokCRDs creates the CRDs of kwokCRDs (see waitKwokCRDs).
func (c *Cluster) createKwokCRDs(ctx context.Context) error {
	if err := c.Apply(ctx, []byte(clusterPortForwardCRD), ""); err != nil {
		return fmt.Errorf("install the ClusterPortForward CRD: %w", err)
	}
	for _, name := range []string{"kwok.x-k8s.io_clusterlogs.yaml", "kwok.x-k8s.io_logs.yaml"} {
		crd, err := kwokCRDFiles.ReadFile("kwokcrds/" + name)
		if err != nil {
			return fmt.Errorf("read kwok CRD %s: %w", name, err)
		}
		if err := c.Apply(ctx, crd, ""); err != nil {
			return fmt.Errorf("install kwok CRD %s: %w", name, err)
		}
	}
	return nil
}

// waitKwokCRDs waits until the CRDs of kwokCRDs are served: kwok must find
// them when it starts, or its watches back off.
func (c *Cluster) waitKwokCRDs(ctx context.Context) error {
	for _, path := range kwokCRDPaths {
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			_, err := c.Client.Discovery().RESTClient().Get().AbsPath(path).DoRaw(ctx)
			return err == nil, nil
		})
		if err != nil {
			return fmt.Errorf("wait for %s to be served: %w", path, err)
		}
	}
	return nil
}
