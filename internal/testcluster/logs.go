package testcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// Container logs. kwok plays the kubelet's log API from CRI log files: a
// per-pod Logs object names a pod's files, else the first ClusterLogs whose
// selector matches the pod does. Every pod gets the default logs below
// (defaultlogs.go keeps them from competing with a namespace's own); a test
// chooses a namespace's logs with NamespaceLogs and a pod's with PodLogs.

// ContainerLog is what a simulated container prints by default (kubectl logs).
const ContainerLog = `[info] erlmcp starting: node erlmcp@pod, OTP 27
[info] erlmcp_transport_http: listening on 0.0.0.0:8080 (/mcp, /health, /metrics)
[info] erlmcp_registry: 3 tools registered
`

// PreviousContainerLog is what the previous instance of a simulated container
// printed by default (kubectl logs --previous): it started, served and
// stopped, and names no cause — a test that wants a crash's cause in that log
// gives it with NamespaceLogs or PodLogs.
const PreviousContainerLog = `[info] erlmcp starting: node erlmcp@pod, OTP 27
[info] erlmcp_transport_http: listening on 0.0.0.0:8080 (/mcp, /health, /metrics)
[info] erlmcp_registry: 3 tools registered
[info] erlmcp_sessions: 12 sessions served, 0 open
`

// EchoEnvContainer is the container name whose simulated previous instance
// echoed its environment: it printed EchoedEnv=EchoedSecret before crashing,
// as an application that dumps its config does. Tests of masking give such a
// container that literal env value.
const (
	EchoEnvContainer = "echo-env"
	EchoedEnv        = "ERLMCP_ADMIN_TOKEN"
	EchoedSecret     = "erlmcp-admin-7Hq2Lw9xVbT4"
)

// echoedPreviousLog is what a crashed EchoEnvContainer printed.
const echoedPreviousLog = `[info] erlmcp starting: node erlmcp@pod, OTP 27
[debug] erlmcp_config: environment ERLMCP_PORT=8080 ` + EchoedEnv + `=` + EchoedSecret + ` LOG_LEVEL=debug
[error] erlmcp_app: start failed: {bad_config,{invalid_token,"` + EchoedSecret + `"}}
`

// ContainerLogs is what simulated containers print, as plain lines.
type ContainerLogs struct {
	// Current is the running instance's log (kubectl logs); empty means ContainerLog.
	Current string
	// Previous is the previous, crashed instance's log (kubectl logs --previous); empty means PreviousContainerLog.
	Previous string
	// Containers gives the containers it names logs of their own; what they
	// leave empty comes from above (their own Containers are ignored).
	Containers map[string]ContainerLogs
}

// defaultLogs are the logs of every pod no test chose logs for.
func defaultLogs() ContainerLogs {
	return ContainerLogs{Containers: map[string]ContainerLogs{EchoEnvContainer: {Previous: echoedPreviousLog}}}
}

var (
	clusterLogsResource = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "clusterlogs"}
	podLogsResource     = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "logs"}
)

// NamespaceLogs makes every pod of namespace, now and later, print logs: a kwok ClusterLogs logs-<namespace> that wins over the default logs (create it before the pods); cleanup deletes it.
func (c *Cluster) NamespaceLogs(ctx context.Context, namespace string, logs ContainerLogs) (cleanup func() error, err error) {
	name := "logs-" + namespace
	obj, dir, err := c.logsObject("ClusterLogs", name, logs)
	if err != nil {
		return nil, err
	}
	obj.Object["spec"].(map[string]any)["selector"] = map[string]any{"matchNamespaces": []any{namespace}}
	ri, err := c.resource(clusterLogsResource, "")
	if err != nil {
		return nil, err
	}
	if _, err := ri.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("create ClusterLogs %s: %w", name, err)
	}
	cleanup = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := deleteObject(ctx, ri, name); err != nil {
			return fmt.Errorf("delete ClusterLogs %s: %w", name, err)
		}
		if err := c.waitDefaultLogs(ctx, namespace, false); err != nil {
			return err
		}
		return os.RemoveAll(dir)
	}
	if err := c.waitDefaultLogs(ctx, namespace, true); err != nil {
		return nil, fmt.Errorf("%w (cleanup: %v)", err, cleanup())
	}
	return cleanup, nil
}

// PodLogs makes the pod named pod in namespace print logs: a kwok Logs object, which wins over every ClusterLogs (create it before the pod); cleanup deletes it.
func (c *Cluster) PodLogs(ctx context.Context, namespace, pod string, logs ContainerLogs) (cleanup func() error, err error) {
	obj, dir, err := c.logsObject("Logs", pod, logs)
	if err != nil {
		return nil, err
	}
	obj.SetNamespace(namespace)
	ri, err := c.resource(podLogsResource, namespace)
	if err != nil {
		return nil, err
	}
	if _, err := ri.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("create Logs %s/%s: %w", namespace, pod, err)
	}
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := deleteObject(ctx, ri, pod); err != nil {
			return fmt.Errorf("delete Logs %s/%s: %w", namespace, pod, err)
		}
		return os.RemoveAll(dir)
	}, nil
}

// logsObject writes logs into a new directory of the cluster's and returns a
// kwok object of kind named name that serves them, and that directory.
func (c *Cluster) logsObject(kind, name string, logs ContainerLogs) (*unstructured.Unstructured, string, error) {
	parent := filepath.Join(c.Dir, "pod-logs")
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, "", fmt.Errorf("logs of %s %s: %w", kind, name, err)
	}
	dir, err := os.MkdirTemp(parent, strings.ToLower(kind)+"-"+name+"-")
	if err != nil {
		return nil, "", fmt.Errorf("logs of %s %s: %w", kind, name, err)
	}
	entries, err := writeLogs(dir, logs)
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", fmt.Errorf("logs of %s %s: %w", kind, name, err)
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": kind,
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"logs": entries},
	}}, dir, nil
}

// resource is the dynamic client of gvr (in namespace, for a namespaced one).
func (c *Cluster) resource(gvr schema.GroupVersionResource, namespace string) (dynamic.ResourceInterface, error) {
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	if namespace != "" {
		return dyn.Resource(gvr).Namespace(namespace), nil
	}
	return dyn.Resource(gvr), nil
}

// deleteObject deletes the object name; one already gone is no error.
func deleteObject(ctx context.Context, ri dynamic.ResourceInterface, name string) error {
	err := ri.Delete(ctx, name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// writeLogs writes logs as CRI log files into dir and returns kwok's
// spec.logs entries for them: one per container logs names, then one for
// every other container.
func writeLogs(dir string, logs ContainerLogs) ([]any, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(logs.Containers))
	for name := range logs.Containers {
		names = append(names, name)
	}
	slices.Sort(names)
	var entries []any
	for _, name := range names {
		own := logs.Containers[name]
		e, err := writeLog(dir, name+".", firstOf(own.Current, logs.Current, ContainerLog), firstOf(own.Previous, logs.Previous, PreviousContainerLog))
		if err != nil {
			return nil, err
		}
		e["containers"] = []any{name}
		entries = append(entries, e)
	}
	e, err := writeLog(dir, "", firstOf(logs.Current, ContainerLog), firstOf(logs.Previous, PreviousContainerLog))
	if err != nil {
		return nil, err
	}
	return append(entries, e), nil
}

// writeLog writes the current and previous log files <prefix>current.log and
// <prefix>previous.log into dir and returns a spec.logs entry for them.
func writeLog(dir, prefix, current, previous string) (map[string]any, error) {
	cur, prev := filepath.Join(dir, prefix+"current.log"), filepath.Join(dir, prefix+"previous.log")
	if err := os.WriteFile(cur, criLog(current, "2026-11-23T10:00:00"), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(prev, criLog(previous, "2026-11-23T09:59:58"), 0o644); err != nil {
		return nil, err
	}
	return map[string]any{"logsFile": cur, "previousLogsFile": prev, "follow": false}, nil
}

// firstOf returns the first non-empty text.
func firstOf(texts ...string) string {
	for _, t := range texts {
		if t != "" {
			return t
		}
	}
	return ""
}

// writeKwokConfig writes the stages into the kwok --config file and returns its path.
func writeKwokConfig(dir string) (string, error) {
	path := filepath.Join(dir, "kwok.yaml")
	return path, os.WriteFile(path, []byte(Stages), 0o644)
}

// criLog renders lines in the CRI log format kwok serves ("<time> stdout F <line>").
func criLog(text, second string) []byte {
	var b strings.Builder
	for i, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		fmt.Fprintf(&b, "%s.%09dZ stdout F %s\n", second, i*1000000, line)
	}
	return []byte(b.String())
}
