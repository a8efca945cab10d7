// Package diagnose collects why a rollout failed — the failing pods'
// container states, the last lines of their logs (the previous instance's for
// a crash loop) and Warning events — before a rollback deletes the pods.
package diagnose

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/org/erlmcp-deploy/internal/bootcause"
	"github.com/org/erlmcp-deploy/internal/summary"
)

// Limits of a report, so a summary stays readable.
const (
	MaxPods   = 3
	LogLines  = 20
	MaxEvents = 15
)

// Report is the evidence of a failed rollout.
type Report struct {
	Pods   []Pod   `json:"pods"`
	Events []Event `json:"events"`
	// Errors are what could not be collected (a forbidden log, a vanished pod).
	Errors []string `json:"errors,omitempty"`
	// Cause names the failure (set by Explain).
	Cause Cause `json:"cause"`
}

// Pod is one failing pod.
type Pod struct {
	Name       string      `json:"name"`
	Phase      string      `json:"phase"`
	Node       string      `json:"node,omitempty"`
	Containers []Container `json:"containers"`
}

// Container is one container's state and log tail.
type Container struct {
	Name     string `json:"name"`
	Image    string `json:"image"`
	Ready    bool   `json:"ready"`
	Restarts int32  `json:"restarts"`
	State    string `json:"state"`
	Last     string `json:"lastState,omitempty"`
	// Logs are the last lines; LogsPrevious says they are the previous instance's.
	Logs         string `json:"logs,omitempty"`
	LogsPrevious bool   `json:"logsPrevious,omitempty"`
	// Boot is what the crashed instance's log says of its failure (nil: no crash read).
	Boot *bootcause.Cause `json:"boot,omitempty"`
	// MemoryLimit is the container's memory limit ("" when none).
	MemoryLimit string `json:"memoryLimit,omitempty"`
	// Readiness and Liveness describe its probes ("HTTP GET :8080/health"; "" when none).
	Readiness string `json:"readiness,omitempty"`
	Liveness  string `json:"liveness,omitempty"`
}

// Event is one Warning event.
type Event struct {
	Object  string    `json:"object"`
	Reason  string    `json:"reason"`
	Message string    `json:"message"`
	Count   int32     `json:"count"`
	Last    time.Time `json:"last"`
}

// Collect gathers the evidence: the given pods first (the doomed ones), then
// other pods of the new ReplicaSet, up to MaxPods; Warning events of the
// Deployment, the ReplicaSet and those pods. It never fails: what cannot be
// read is listed in Report.Errors.
func Collect(ctx context.Context, client kubernetes.Interface, d *appsv1.Deployment, rs *appsv1.ReplicaSet, failing []string, pods []*corev1.Pod) Report {
	owners := map[types.UID]string{}
	ns := ""
	if d != nil {
		owners[d.UID], ns = "deployment/"+d.Name, d.Namespace
	}
	if rs != nil {
		owners[rs.UID] = "replicaset/" + rs.Name
	}
	return CollectFor(ctx, client, ns, owners, failing, pods)
}

// CollectFor is Collect for any workload: owners names the objects (by UID)
// whose Warning events count besides the pods'; events are read only when
// namespace is set.
func CollectFor(ctx context.Context, client kubernetes.Interface, namespace string, owners map[types.UID]string, failing []string, pods []*corev1.Pod) Report {
	var r Report
	byName := map[string]*corev1.Pod{}
	for _, p := range pods {
		byName[p.Name] = p
	}
	var chosen []*corev1.Pod
	seen := map[string]bool{}
	for _, name := range failing {
		if p := byName[name]; p != nil && !seen[name] {
			chosen, seen[name] = append(chosen, p), true
		}
	}
	rest := append([]*corev1.Pod(nil), pods...)
	sort.Slice(rest, func(i, j int) bool { return rest[i].Name < rest[j].Name })
	for _, p := range rest {
		if !seen[p.Name] && !PodReady(p) {
			chosen, seen[p.Name] = append(chosen, p), true
		}
	}
	if len(chosen) > MaxPods {
		chosen = chosen[:MaxPods]
	}
	uids := map[types.UID]string{}
	for uid, name := range owners {
		uids[uid] = name
	}
	for _, p := range chosen {
		uids[p.UID] = "pod/" + p.Name
		r.Pods = append(r.Pods, r.pod(ctx, client, p))
	}
	if namespace != "" {
		r.Events = r.events(ctx, client, namespace, uids)
	}
	return r
}

// PodReady reports whether the pod's Ready condition is True.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (r *Report) pod(ctx context.Context, client kubernetes.Interface, p *corev1.Pod) Pod {
	out := Pod{Name: p.Name, Phase: string(p.Status.Phase), Node: p.Spec.NodeName}
	statuses := append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for _, cs := range statuses {
		c := Container{Name: cs.Name, Image: cs.Image, Ready: cs.Ready, Restarts: cs.RestartCount, State: state(cs.State), Last: state(cs.LastTerminationState)}
		describeSpec(&c, p, cs.Name)
		if cs.LastTerminationState.Terminated == nil {
			c.Last = ""
		}
		if cs.Ready {
			out.Containers = append(out.Containers, c)
			continue
		}
		// A container that never started has no logs; a restarted one's
		// previous instance holds the crash.
		previous := cs.LastTerminationState.Terminated != nil
		if cs.State.Running != nil || cs.State.Terminated != nil || previous {
			opts := &corev1.PodLogOptions{Container: cs.Name, TailLines: ptr.To(int64(LogLines)), Previous: previous}
			logs, err := logTail(ctx, client, p, opts)
			if err != nil {
				r.Errors = append(r.Errors, fmt.Sprintf("logs of %s/%s: %v", p.Name, cs.Name, err))
			} else {
				c.Logs, c.LogsPrevious = logs, previous
			}
		}
		if previous || (cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0) {
			if log, err := CrashLog(ctx, client, p.Namespace, p.Name, cs.Name, previous); err == nil {
				cause := bootcause.Classify(log)
				c.Boot = &cause
			}
		}
		out.Containers = append(out.Containers, c)
	}
	return out
}

func state(s corev1.ContainerState) string {
	switch {
	case s.Waiting != nil:
		return strings.TrimSpace("waiting: " + s.Waiting.Reason + " " + s.Waiting.Message)
	case s.Terminated != nil:
		t := s.Terminated
		return strings.TrimSpace(fmt.Sprintf("terminated: %s (exit %d) %s", t.Reason, t.ExitCode, t.Message))
	case s.Running != nil:
		return "running"
	}
	return "unknown"
}

func (r *Report) events(ctx context.Context, client kubernetes.Interface, ns string, objects map[types.UID]string) []Event {
	list, err := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "type=Warning"})
	if err != nil {
		r.Errors = append(r.Errors, fmt.Sprintf("events: %v", err))
		return nil
	}
	var out []Event
	for _, e := range list.Items {
		obj, ok := objects[e.InvolvedObject.UID]
		if !ok {
			continue
		}
		last := e.LastTimestamp.Time
		if last.IsZero() {
			last = e.EventTime.Time
		}
		if last.IsZero() {
			last = e.CreationTimestamp.Time
		}
		count := e.Count
		if count == 0 {
			count = 1
		}
		out = append(out, Event{Object: obj, Reason: e.Reason, Message: strings.TrimSpace(e.Message), Count: count, Last: last})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Last.Before(out[j].Last) })
	if len(out) > MaxEvents {
		out = out[len(out)-MaxEvents:]
	}
	return out
}

// Text renders the report for a log group.
func (r Report) Text() string {
	var b strings.Builder
	for _, p := range r.Pods {
		fmt.Fprintf(&b, "pod %s (%s", p.Name, p.Phase)
		if p.Node != "" {
			fmt.Fprintf(&b, " on %s", p.Node)
		}
		b.WriteString(")\n")
		for _, c := range p.Containers {
			fmt.Fprintf(&b, "  container %s  image %s  ready %t  restarts %d\n    state: %s\n", c.Name, c.Image, c.Ready, c.Restarts, c.State)
			if c.Last != "" {
				fmt.Fprintf(&b, "    last state: %s\n", c.Last)
			}
			if c.Logs != "" {
				which := "logs"
				if c.LogsPrevious {
					which = "logs of the previous instance"
				}
				fmt.Fprintf(&b, "    %s (last %d lines):\n", which, LogLines)
				for _, l := range strings.Split(c.Logs, "\n") {
					fmt.Fprintf(&b, "      | %s\n", l)
				}
			}
		}
	}
	if len(r.Events) > 0 {
		b.WriteString("warning events:\n")
		for _, e := range r.Events {
			fmt.Fprintf(&b, "  %s  %s  %s: %s", e.Last.UTC().Format("15:04:05"), e.Object, e.Reason, e.Message)
			if e.Count > 1 {
				fmt.Fprintf(&b, " (x%d)", e.Count)
			}
			b.WriteString("\n")
		}
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "could not collect: %s\n", e)
	}
	return strings.TrimRight(b.String(), "\n")
}

// Markdown adds the report to a job summary.
func (r Report) Markdown(s *summary.Summary) {
	var rows [][]string
	for _, p := range r.Pods {
		for _, c := range p.Containers {
			rows = append(rows, []string{p.Name, c.Name, c.State, c.Last, fmt.Sprint(c.Restarts)})
		}
	}
	if len(rows) > 0 {
		s.Table([]string{"pod", "container", "state", "last state", "restarts"}, rows)
	}
	for _, p := range r.Pods {
		for _, c := range p.Containers {
			if c.Logs == "" {
				continue
			}
			title := fmt.Sprintf("Logs of %s/%s", p.Name, c.Name)
			if c.LogsPrevious {
				title += " (previous instance)"
			}
			s.Details(title, "```text\n"+strings.ReplaceAll(c.Logs, "```", "'''")+"\n```")
		}
	}
	if len(r.Events) > 0 {
		ev := make([][]string, len(r.Events))
		for i, e := range r.Events {
			ev[i] = []string{e.Last.UTC().Format("15:04:05"), e.Object, e.Reason, e.Message, fmt.Sprint(e.Count)}
		}
		s.Table([]string{"time", "object", "reason", "message", "count"}, ev)
	}
}

// describeSpec fills what c's spec says: its memory limit and probes.
func describeSpec(c *Container, p *corev1.Pod, name string) {
	for _, sc := range append(append([]corev1.Container(nil), p.Spec.InitContainers...), p.Spec.Containers...) {
		if sc.Name != name {
			continue
		}
		if m, ok := sc.Resources.Limits[corev1.ResourceMemory]; ok {
			c.MemoryLimit = m.String()
		}
		c.Readiness, c.Liveness = probeText(sc.ReadinessProbe), probeText(sc.LivenessProbe)
		return
	}
}

// probeText is "HTTP GET :8080/health", "TCP :4369", "exec …" or "".
func probeText(pr *corev1.Probe) string {
	switch {
	case pr == nil:
		return ""
	case pr.HTTPGet != nil:
		return fmt.Sprintf("HTTP GET :%s%s", pr.HTTPGet.Port.String(), pr.HTTPGet.Path)
	case pr.TCPSocket != nil:
		return "TCP :" + pr.TCPSocket.Port.String()
	case pr.GRPC != nil:
		return fmt.Sprintf("gRPC :%d", pr.GRPC.Port)
	case pr.Exec != nil:
		return "exec " + strings.Join(pr.Exec.Command, " ")
	}
	return ""
}
