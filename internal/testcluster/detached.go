package testcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Attach returns the detached cluster whose state is in dir, if all of its
// components still run and its API answers.
func Attach(ctx context.Context, dir string) (*Cluster, error) {
	st, err := loadState(dir)
	if err != nil {
		return nil, err
	}
	hasDefaultLogs := false
	for _, pr := range st.Procs {
		if !ours(pr, dir) {
			return nil, fmt.Errorf("%s (pid %d) is no longer running", pr.Name, pr.PID)
		}
		hasDefaultLogs = hasDefaultLogs || pr.Name == "default-logs"
	}
	if !hasDefaultLogs {
		return nil, errors.New("the cluster has no default-logs component (an older clusterctl started it)")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", st.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", st.Kubeconfig, err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
		return nil, fmt.Errorf("API at %s not ready: %w", st.Server, err)
	}
	return &Cluster{Dir: dir, Kubeconfig: st.Kubeconfig, Server: st.Server, Config: cfg, Client: client,
		caPEM: cfg.CAData, detached: true, procs: st.Procs}, nil
}

// StopDir stops the detached cluster whose state is in dir: only processes
// whose command line names dir, so a reused pid is never killed. It removes
// the state so the next `up` starts afresh.
func StopDir(dir string) ([]string, error) {
	st, err := loadState(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var stopped []string
	var errs []error
	for i := len(st.Procs) - 1; i >= 0; i-- {
		pr := st.Procs[i]
		if !ours(pr, dir) {
			continue
		}
		if err := stopProcess(pr); err != nil {
			errs = append(errs, err)
			continue
		}
		stopped = append(stopped, fmt.Sprintf("%s (pid %d)", pr.Name, pr.PID))
	}
	errs = append(errs, os.Remove(filepath.Join(dir, "state.json")))
	return stopped, errors.Join(errs...)
}

func loadState(dir string) (*state, error) {
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, "state.json"), err)
	}
	return &st, nil
}

// ours reports whether pid still runs one of our components for dir.
func ours(pr *process, dir string) bool {
	if !ProcessAlive(pr.PID) {
		return false
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pr.PID) + "/cmdline")
	if err != nil {
		return true // no /proc (macOS): trust the pid we recorded
	}
	return strings.Contains(string(cmdline), dir)
}
