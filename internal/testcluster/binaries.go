package testcluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"
)

// Binaries are the paths of the control-plane programs.
type Binaries struct {
	Dir                   string
	Etcd                  string
	KubeAPIServer         string
	KubeControllerManager string
	KubeScheduler         string
	Kwok                  string
}

// Components is the order the programs are built and started in.
var components = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// toolsPackages are the import paths built from test/cluster/tools, in components order.
var toolsPackages = []string{
	"./etcd",
	"k8s.io/kubernetes/cmd/kube-apiserver",
	"k8s.io/kubernetes/cmd/kube-controller-manager",
	"k8s.io/kubernetes/cmd/kube-scheduler",
	"sigs.k8s.io/kwok/cmd/kwok",
}

func binariesIn(dir string) Binaries {
	return Binaries{
		Dir:                   dir,
		Etcd:                  filepath.Join(dir, "etcd"),
		KubeAPIServer:         filepath.Join(dir, "kube-apiserver"),
		KubeControllerManager: filepath.Join(dir, "kube-controller-manager"),
		KubeScheduler:         filepath.Join(dir, "kube-scheduler"),
		Kwok:                  filepath.Join(dir, "kwok"),
	}
}

func (b Binaries) all() []string {
	return []string{b.Etcd, b.KubeAPIServer, b.KubeControllerManager, b.KubeScheduler, b.Kwok}
}

// CacheRoot is where built binaries and the cluster started by `clusterctl up`
// live: $ERLMCP_CLUSTER_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/erlmcp-deploy.
func CacheRoot() (string, error) {
	if d := os.Getenv("ERLMCP_CLUSTER_CACHE"); d != "" {
		return filepath.Abs(d)
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the cache directory: %w", err)
	}
	return filepath.Join(d, "erlmcp-deploy"), nil
}

// ToolsDir finds test/cluster/tools by walking up from the working directory.
func ToolsDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		cand := filepath.Join(dir, "test", "cluster", "tools")
		if _, err := os.Stat(filepath.Join(cand, "go.mod")); err == nil {
			return cand, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("test/cluster/tools/go.mod not found above the working directory")
		}
		dir = parent
	}
}

var requireRe = regexp.MustCompile(`(?m)^\s*(k8s\.io/kubernetes|go\.etcd\.io/etcd/server/v3|sigs\.k8s\.io/kwok) (v\S+)`)

// cacheKey names the binaries directory after the versions it holds and a hash
// of everything that decides the build (module files, sources, Go version), so
// a version bump rebuilds and nothing else does.
func cacheKey(toolsDir string) (string, error) {
	gomod, err := os.ReadFile(filepath.Join(toolsDir, "go.mod"))
	if err != nil {
		return "", err
	}
	versions := map[string]string{}
	for _, m := range requireRe.FindAllStringSubmatch(string(gomod), -1) {
		versions[m[1]] = m[2]
	}
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum", "tools.go", "etcd/main.go"} {
		b, err := os.ReadFile(filepath.Join(toolsDir, f))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\n%d\n", f, len(b))
		h.Write(b)
	}
	fmt.Fprintf(h, "%s/%s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return fmt.Sprintf("k8s-%s-etcd-%s-kwok-%s-%s", versions["k8s.io/kubernetes"], versions["go.etcd.io/etcd/server/v3"],
		versions["sigs.k8s.io/kwok"], hex.EncodeToString(h.Sum(nil))[:10]), nil
}

// EnsureBinaries returns the control-plane binaries, building them into the
// cache on first use (about 11 minutes on 2 cores; later calls return at once).
// Concurrent callers, from several test packages, wait for one build.
func EnsureBinaries(ctx context.Context, progress io.Writer) (Binaries, error) {
	tools, err := ToolsDir()
	if err != nil {
		return Binaries{}, err
	}
	key, err := cacheKey(tools)
	if err != nil {
		return Binaries{}, fmt.Errorf("cache key: %w", err)
	}
	root, err := CacheRoot()
	if err != nil {
		return Binaries{}, err
	}
	bins := binariesIn(filepath.Join(root, key))
	if bins.complete() {
		return bins, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return Binaries{}, err
	}
	unlock, err := lockFile(ctx, filepath.Join(root, key+".lock"))
	if err != nil {
		return Binaries{}, err
	}
	defer unlock()
	if bins.complete() { // another process built them while we waited
		return bins, nil
	}
	tmp, err := os.MkdirTemp(root, key+".build-")
	if err != nil {
		return Binaries{}, err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(progress, "building the local control plane into %s (first run only; about 11 min on 2 cores)\n", bins.Dir)
	start := time.Now()
	args := append([]string{"build", "-trimpath", "-ldflags=-s -w", "-o", tmp + string(filepath.Separator)}, toolsPackages...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = tools
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(progress, "  still building the control plane (%s)\n", time.Since(start).Round(time.Second))
			}
		}
	}()
	err = cmd.Run()
	close(done)
	if err != nil {
		return Binaries{}, fmt.Errorf("build control plane in %s: %w\n%s", tools, err, out.String())
	}
	if err := os.RemoveAll(bins.Dir); err != nil {
		return Binaries{}, err
	}
	if err := os.Rename(tmp, bins.Dir); err != nil {
		return Binaries{}, fmt.Errorf("install binaries: %w", err)
	}
	if !bins.complete() {
		return Binaries{}, fmt.Errorf("build finished but %s lacks some of %s", bins.Dir, strings.Join(components, ", "))
	}
	fmt.Fprintf(progress, "built the control plane in %s\n", time.Since(start).Round(time.Second))
	return bins, nil
}

func (b Binaries) complete() bool {
	for _, p := range b.all() {
		st, err := os.Stat(p)
		if err != nil || st.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}
