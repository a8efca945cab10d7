// Command clusterctl builds, starts and stops the local control plane used by
// the tests and the demo (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and kwok, all built from Go modules).
//
//	go run ./test/cluster/clusterctl build   # build or reuse the cached binaries
//	go run ./test/cluster/clusterctl up      # start (or reuse) one cluster in the background
//	go run ./test/cluster/clusterctl down    # stop exactly that cluster
//	go run ./test/cluster/clusterctl prometheus # build or reuse the cached Prometheus server
//
// `clusterctl default-logs <dir>` is not for people: it is the component
// process that keeps the default container logs of the cluster in <dir> (up
// starts it, down stops it).
package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/org/erlmcp-deploy/internal/testcluster"
)

func main() {
	if len(os.Args) != 2 && (len(os.Args) != 3 || os.Args[1] != "default-logs") {
		fmt.Fprintln(os.Stderr, "usage: clusterctl build|up|down|prometheus")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "default-logs":
		err = testcluster.RunDefaultLogs(ctx, os.Args[2], os.Stdout)
	case "build":
		err = build(ctx)
	case "up":
		err = up(ctx)
	case "down":
		err = down()
	case "prometheus":
		var bin string
		start := time.Now()
		if bin, err = testcluster.EnsurePrometheus(ctx, os.Stderr); err == nil {
			fmt.Printf("prometheus %s ready at %s (%s)\n", testcluster.PrometheusVersion, bin, time.Since(start).Round(time.Millisecond))
		}
	default:
		err = fmt.Errorf("unknown command %q (build, up, down, prometheus)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "clusterctl:", err)
		os.Exit(1)
	}
}

func build(ctx context.Context) error {
	start := time.Now()
	bins, err := testcluster.EnsureBinaries(ctx, os.Stderr)
	if err != nil {
		return err
	}
	var sizes []string
	err = filepath.WalkDir(bins.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		sizes = append(sizes, fmt.Sprintf("%s %d MB", d.Name(), info.Size()>>20))
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Printf("control plane ready in %s (%s): %s\n", bins.Dir, time.Since(start).Round(time.Millisecond), strings.Join(sizes, ", "))
	return nil
}

// stateDir holds the background cluster: $ERLMCP_CLUSTER_STATE, else <cache>/cluster.
func stateDir() (string, error) {
	if d := os.Getenv("ERLMCP_CLUSTER_STATE"); d != "" {
		return filepath.Abs(d)
	}
	root, err := testcluster.CacheRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "cluster"), nil
}

func up(ctx context.Context) error {
	dir, err := stateDir()
	if err != nil {
		return err
	}
	c, err := testcluster.Attach(ctx, dir)
	if err == nil {
		fmt.Fprintf(os.Stderr, "reusing the cluster at %s\n", c.Server)
		hints(c)
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "not reusing the previous cluster (%v): starting a new one\n", err)
	}
	if _, err := testcluster.StopDir(dir); err != nil {
		return fmt.Errorf("clean up the previous cluster: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find clusterctl's own executable (it runs the default-logs component): %w", err)
	}
	c, err = testcluster.New(ctx, testcluster.Options{Dir: dir, Detach: true, Log: os.Stderr,
		DefaultLogsCommand: []string{self, "default-logs"}})
	if err != nil {
		return err
	}
	hints(c)
	return nil
}

func hints(c *testcluster.Cluster) {
	fmt.Printf("export KUBECONFIG=%s\n", c.Kubeconfig)
	fmt.Fprintf(os.Stderr, `# then, for example:
#   kubectl get nodes
#   kubectl create deployment erlmcp --image=ghcr.io/acme/erlmcp:1.0.0 --replicas=3
#   kubectl set image deployment/erlmcp erlmcp=ghcr.io/acme/erlmcp:1.1.0-fault-crashloop   # a bad release
# image tags ending in fault-imagepull, fault-crashloop, fault-configerror, fault-oom, fault-ratelimit,
# fault-neverready simulate failures; crashonce, oomonce, pull429-<N>s, slowstart-<N>s noisy but healthy
# releases (internal/testcluster/stages.yaml); component logs are in %s
# stop it with: make cluster-down
`, filepath.Join(c.Dir, "logs"))
}

func down() error {
	dir, err := stateDir()
	if err != nil {
		return err
	}
	stopped, err := testcluster.StopDir(dir)
	if err != nil {
		return err
	}
	if len(stopped) == 0 {
		fmt.Println("no cluster was running")
		return nil
	}
	fmt.Printf("stopped %s\n", strings.Join(stopped, ", "))
	return os.RemoveAll(dir)
}
