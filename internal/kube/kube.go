// Package kube builds a Kubernetes client the way kubectl finds credentials:
// a kubeconfig given as content, else $KUBECONFIG, else ~/.kube/config, else
// the in-cluster service account.
package kube

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Source says where to look for credentials.
type Source struct {
	// Kubeconfig is kubeconfig content (the action input), tried first.
	Kubeconfig string
	// Context overrides the kubeconfig's current context.
	Context string
	// Getenv reads KUBECONFIG and HOME (default os.Getenv).
	Getenv func(string) string
	// UserAgent identifies us in the API server's logs.
	UserAgent string
	// Retry says how requests turned away with 429 or 5xx are retried (zero: the defaults).
	Retry Retry
}

// Client is a connected clientset and where its credentials came from.
type Client struct {
	Config    *rest.Config
	Clientset kubernetes.Interface
	// Origin is "the kubeconfig input", "$KUBECONFIG (path)", "~/.kube/config (path)" or "in-cluster".
	Origin string
	// Context is the kubeconfig context in use ("" in-cluster).
	Context string
	// Namespace is the context's namespace in the kubeconfig ("" when it names none).
	Namespace string
	// Kubeconfigs are the contents of the kubeconfig files read, for masking their credentials.
	Kubeconfigs []string
}

// ErrNoCredentials is returned when no source has any.
var ErrNoCredentials = errors.New("no cluster credentials: give the kubeconfig input, set KUBECONFIG, create ~/.kube/config, or run inside a cluster")

// Load finds credentials and builds a client.
func Load(src Source) (*Client, error) {
	getenv := src.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	c := &Client{}
	var raw *clientcmdapi.Config
	switch {
	case strings.TrimSpace(src.Kubeconfig) != "":
		cfg, err := clientcmd.Load([]byte(src.Kubeconfig))
		if err != nil {
			return nil, fmt.Errorf("the kubeconfig input is not a valid kubeconfig: %w", err)
		}
		raw, c.Origin = cfg, "the kubeconfig input"
		c.Kubeconfigs = []string{src.Kubeconfig}
	case getenv("KUBECONFIG") != "":
		paths := filepath.SplitList(getenv("KUBECONFIG"))
		rules := &clientcmd.ClientConfigLoadingRules{Precedence: paths}
		cfg, err := rules.Load()
		if err != nil {
			return nil, fmt.Errorf("load $KUBECONFIG (%s): %w", getenv("KUBECONFIG"), err)
		}
		raw, c.Origin = cfg, "$KUBECONFIG ("+getenv("KUBECONFIG")+")"
		c.Kubeconfigs = readAll(paths)
	default:
		home := getenv("HOME")
		path := filepath.Join(home, ".kube", "config")
		if _, err := os.Stat(path); home != "" && err == nil {
			cfg, err := clientcmd.LoadFromFile(path)
			if err != nil {
				return nil, fmt.Errorf("load %s: %w", path, err)
			}
			raw, c.Origin = cfg, "~/.kube/config ("+path+")"
			c.Kubeconfigs = readAll([]string{path})
			break
		}
		rc, err := rest.InClusterConfig()
		if err != nil {
			return nil, ErrNoCredentials
		}
		c.Config, c.Origin = rc, "in-cluster"
	}
	if raw != nil {
		name := src.Context
		if name == "" {
			name = raw.CurrentContext
		}
		if _, ok := raw.Contexts[name]; !ok {
			return nil, fmt.Errorf("kubeconfig from %s has no context %q; its contexts are %s", c.Origin, name, contexts(raw))
		}
		rc, err := clientcmd.NewDefaultClientConfig(*raw, &clientcmd.ConfigOverrides{CurrentContext: name}).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("kubeconfig from %s, context %q: %w", c.Origin, name, err)
		}
		c.Config, c.Context, c.Namespace = rc, name, raw.Contexts[name].Namespace
	}
	c.Config.QPS, c.Config.Burst = 50, 100
	if src.UserAgent != "" {
		c.Config.UserAgent = src.UserAgent
	}
	c.Config.Wrap(src.Retry.Wrap)
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", c.Config.Host, err)
	}
	c.Clientset = cs
	return c, nil
}

func contexts(cfg *clientcmdapi.Config) string {
	var names []string
	for n := range cfg.Contexts {
		names = append(names, n)
	}
	if len(names) == 0 {
		return "(none)"
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func readAll(paths []string) []string {
	var out []string
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			out = append(out, string(b))
		}
	}
	return out
}
