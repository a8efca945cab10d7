// Package setup holds what the deploy, rollback and smoke adapters share:
// the per-environment config file, the cluster client, and who this run is.
package setup

import (
	"fmt"
	"os"
	"os/user"
	"strings"

	"github.com/org/erlmcp-deploy/internal/config"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/kube"
)

// ApplyConfig reads the config file (the `config` input, else
// .github/erlmcp-deploy.yml when present) and makes its entry for the
// `environment` input the defaults of every other input. Problems are
// recorded as invalid `config` input.
func ApplyConfig(rt *ghaction.Runtime) {
	env := rt.String("environment")
	path := rt.String("config")
	values, err := config.Load(path, env)
	if err != nil {
		rt.Invalid("config", err.Error(), "")
		return
	}
	if len(values) == 0 {
		return
	}
	if path == "" {
		path = config.DefaultPath
	}
	if err := rt.SetDefaults(path, values); err != nil {
		rt.Invalid("config", err.Error(), "")
		return
	}
	rt.Debugf("defaults for environment %q from %s", env, path)
}

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

// RunURL is the URL of this workflow run, or "" outside GitHub Actions.
func RunURL(rt *ghaction.Runtime) string {
	server, repo, id := rt.Getenv("GITHUB_SERVER_URL"), rt.Getenv("GITHUB_REPOSITORY"), rt.Getenv("GITHUB_RUN_ID")
	if server == "" || repo == "" || id == "" {
		return ""
	}
	u := fmt.Sprintf("%s/%s/actions/runs/%s", server, repo, id)
	if a := rt.Getenv("GITHUB_RUN_ATTEMPT"); a != "" && a != "1" {
		u += "/attempts/" + a
	}
	return u
}

// Actor is who started the run: the GitHub actor, else user@host.
func Actor(rt *ghaction.Runtime) string {
	if a := rt.Getenv("GITHUB_ACTOR"); a != "" {
		return a
	}
	name := "someone"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return strings.TrimSuffix(name+"@"+host, "@")
}

// Holder identifies this run in locks: its URL, else user@host:pid.
func Holder(rt *ghaction.Runtime) string {
	if u := RunURL(rt); u != "" {
		return u
	}
	return fmt.Sprintf("%s:%d", Actor(rt), os.Getpid())
}

// TempDir is where files for later steps go: $RUNNER_TEMP, else the OS temp dir.
func TempDir(rt *ghaction.Runtime) string {
	if d := rt.Getenv("RUNNER_TEMP"); d != "" {
		return d
	}
	return os.TempDir()
}
