package rollout

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/org/erlmcp-deploy/internal/bootcause"
)

// transientCreate matches pod-create failures that the ReplicaSet controller
// will retry on its own: the API server or etcd briefly unavailable.
var transientCreate = regexp.MustCompile(`(?i)unavailable|connection reset|connection refused|timeout|timed out|too many requests|try again|etcdserver|currently unable`)

// replicaSetProblem reports a ReplicaSet that cannot create its pods (quota,
// admission, ...) once that lasted past a short settle with no terminating old
// pod to free room, or past the grace; otherwise a note while it waits.
//
// A ReplicaSet that created pods since the failure was first seen is not
// blocked by it (room frees as old pods go; the controller retries after a
// back-off): that is left to the deadline, as kubectl would.
func replicaSetProblem(rs *appsv1.ReplicaSet, pods, old []*corev1.Pod, mem *Memory, now time.Time, opts Options) (*Problem, string) {
	if rs == nil {
		return nil, ""
	}
	for _, c := range rs.Status.Conditions {
		if c.Type != appsv1.ReplicaSetReplicaFailure || c.Status != corev1.ConditionTrue || transientCreate.MatchString(c.Message) {
			continue
		}
		reason := c.Reason
		if reason == "" {
			reason = ReasonFailedCreate
		}
		held := mem.since(failedCreateKey(rs), now)
		terminating := 0
		for _, p := range old {
			if p.DeletionTimestamp != nil {
				terminating++
			}
		}
		// Room is being freed while old pods terminate, and for a while after
		// the last one went (the ReplicaSet controller retries after a back-off).
		freeing := terminating > 0 || (!mem.Freed.IsZero() && now.Sub(mem.Freed) < failedCreateRetry)
		switch {
		case mem.createdSince(rs, pods):
			return nil, fmt.Sprintf("replicaset/%s creates pods as room frees (%s); waiting", rs.Name, firstLine(c.Message))
		case !freeing && held >= failedCreateSettle:
			return &Problem{Pod: "replicaset/" + rs.Name, Reason: reason,
				Message: c.Message + " (no old pod is terminating to free room)"}, ""
		case held >= opts.FailedCreateGrace:
			return &Problem{Pod: "replicaset/" + rs.Name, Reason: reason,
				Message: fmt.Sprintf("%s (still after %s while old pods terminate)", c.Message, opts.FailedCreateGrace)}, ""
		case freeing:
			return nil, fmt.Sprintf("replicaset/%s cannot create a pod yet (%s): waiting up to %s for terminating old pods to free room",
				rs.Name, firstLine(c.Message), opts.FailedCreateGrace)
		default:
			return nil, fmt.Sprintf("replicaset/%s cannot create a pod yet (%s)", rs.Name, firstLine(c.Message))
		}
	}
	return nil, ""
}

// permanentPull matches image pull failures that no retry will fix: the
// image does not exist, or these credentials may not pull it.
var permanentPull = regexp.MustCompile(`(?i)not found|manifest unknown|name unknown|unauthorized|denied|forbidden|repository does not exist|may require authorization|invalid reference format|\b40[134]\b`)

// rateLimited matches a registry's rate limit.
var rateLimited = regexp.MustCompile(`(?i)\b429\b|too many requests|toomanyrequests|rate limit`)

// DoomedPod says why a pod will never become ready, or nil when it may
// still. mem is what the watch saw before (nil: nothing).
func DoomedPod(pod *corev1.Pod, mem *Memory, now time.Time, opts Options) *Problem {
	if mem == nil {
		mem = &Memory{}
	}
	p, _ := judgePod(pod, mem, now, opts.withDefaults())
	return p
}

// judgePod is DoomedPod with a note for a fault it tolerates for now.
func judgePod(pod *corev1.Pod, mem *Memory, now time.Time, opts Options) (*Problem, string) {
	if pod.DeletionTimestamp != nil {
		return nil, ""
	}
	pm, known := mem.Pods[pod.UID]
	if pod.Status.Phase == corev1.PodFailed {
		if known && pm.Failed || pod.Status.Reason == "Evicted" || pod.Status.Reason == "Preempting" {
			return nil, ""
		}
		reason := pod.Status.Reason
		if reason == "" {
			reason = "Failed"
		}
		return &Problem{Pod: pod.Name, Reason: reason, Message: pod.Status.Message}, ""
	}
	var notes []string
	for _, cs := range allStatuses(pod) {
		p, note := judgeContainer(pod, cs, mem, now, opts)
		if p != nil {
			p.Pod = pod.Name
			return p, ""
		}
		if note != "" {
			notes = append(notes, pod.Name+"/"+cs.Name+" "+note)
		}
	}
	if p, note := judgeScheduling(pod, mem, now, opts); p != nil {
		return p, ""
	} else if note != "" {
		notes = append(notes, pod.Name+" "+note)
	}
	return nil, strings.Join(notes, "; ")
}

func judgeContainer(pod *corev1.Pod, cs corev1.ContainerStatus, mem *Memory, now time.Time, opts Options) (*Problem, string) {
	mark, _ := mem.mark(pod, cs.Name)
	p := &Problem{Container: cs.Name, Restarts: cs.RestartCount}
	if w := cs.State.Waiting; w != nil {
		p.Reason, p.Message = w.Reason, w.Message
		switch w.Reason {
		case "InvalidImageName", "ErrImageNeverPull", "PreCreateHookError", "PostStartHookError", "CreateContainerError", "RunContainerError":
			return withLastExit(p, cs), ""
		case "ErrImagePull", "ImagePullBackOff":
			return judgePull(pod, cs, p, mem, now, opts)
		case "CreateContainerConfigError":
			// The kubelet's own informers can lag at start: "failed to sync configmap cache".
			if !(strings.Contains(w.Message, "failed to sync") && strings.Contains(w.Message, "cache")) {
				return p, ""
			}
		}
	}
	if t := cs.State.Terminated; t != nil && t.Reason == "ContainerCannotRun" && t.ExitCode != 128 && mark.newTermination(t) {
		p.Reason, p.Message, p.ExitCode = t.Reason, t.Message, &t.ExitCode
		return p, ""
	}
	// Crashes since the change: restarts past the baseline, plus a
	// termination that has not been restarted yet.
	crashes := cs.RestartCount - mark.Restarts
	if crashes < 0 {
		crashes = cs.RestartCount
	}
	last := cs.LastTerminationState.Terminated
	if t := cs.State.Terminated; t != nil && t.ExitCode != 0 && mark.newTermination(t) {
		crashes++ // an init container that completed (exit 0) did not crash
		last = t
	}
	oom := last != nil && last.Reason == "OOMKilled" && mark.newTermination(last)
	if crashes <= 0 || cs.Ready {
		return nil, "" // a crash before the change, or a container that came back: not ours to judge
	}
	boot, read := mem.bootOf(pod, cs)
	if read {
		p.Boot = &boot
	}
	if read && !oom && boot.Permanent && !envMayAppear(pod, cs.Name, boot) {
		p.Reason, p.Restarts = ReasonBootFailure, crashes
		p.Message = fmt.Sprintf("crashed %d time(s) since the change with a cause no restart can clear — %s: %s (%s)",
			crashes, boot.Class, boot.Detail, boot.Evidence)
		return withLastExit(p, cs), ""
	}
	if crashes <= opts.CrashLoopRestarts {
		what := fmt.Sprintf("crashed %d time(s) since the change", crashes)
		if oom {
			what = fmt.Sprintf("was OOM-killed, %d crash(es) since the change", crashes)
		}
		if read && boot.Class != "" && !oom {
			what += fmt.Sprintf(" (%s: %s)", boot.Class, boot.Detail)
			if w := waitingFor(boot); w != "" {
				what += "; " + w
			}
		}
		return nil, fmt.Sprintf("%s; tolerating up to %d restarts", what, opts.CrashLoopRestarts)
	}
	p.Restarts = crashes
	switch {
	case oom:
		p.Reason, p.ExitCode = "OOMKilled", &last.ExitCode
		p.Message = fmt.Sprintf("the container was OOM-killed (exit %d) and has restarted %d times since the change (tolerance %d); raise its memory limit or fix the leak",
			last.ExitCode, crashes, opts.CrashLoopRestarts)
		return p, ""
	case p.Reason == "CrashLoopBackOff":
		p.Message = strings.TrimSpace(fmt.Sprintf("%s (restarted %d times since the change, tolerance %d)", p.Message, crashes, opts.CrashLoopRestarts))
	default:
		p.Reason = ReasonRestarts
		p.Message = fmt.Sprintf("restarted %d times since the change without becoming ready (tolerance %d)", crashes, opts.CrashLoopRestarts)
	}
	return withLastExit(p, cs), ""
}

// judgePull fails a pull whose cause is permanent at once, and a transient
// one (rate limit, timeout, TLS, reset) once it kept failing past the grace.
func judgePull(pod *corev1.Pod, cs corev1.ContainerStatus, p *Problem, mem *Memory, now time.Time, opts Options) (*Problem, string) {
	cause := mem.pullCause(pod, cs)
	if !rateLimited.MatchString(cause) && permanentPull.MatchString(cause) {
		p.Message = cause
		return p, ""
	}
	held := mem.since(containerKey(pod, cs.Name)+"/pull", now)
	kind := "being retried"
	if rateLimited.MatchString(cause) {
		kind = "being rate-limited by the registry"
	}
	if held >= opts.ImagePullGrace {
		p.Reason = "ImagePullBackOff"
		p.Message = fmt.Sprintf("the image pull kept failing for %s (image-pull-grace): %s", opts.ImagePullGrace, cause)
		return p, ""
	}
	return nil, fmt.Sprintf("image pull %s (%s); failing if it lasts %s", kind, shortCause(cause), opts.ImagePullGrace)
}

// judgeScheduling fails a pod unschedulable past the grace, unless a
// scale-up is under way (an autoscaler's event, or a nominated node).
func judgeScheduling(pod *corev1.Pod, mem *Memory, now time.Time, opts Options) (*Problem, string) {
	c := unschedulable(pod)
	switch {
	case c == nil:
		return nil, ""
	case pod.Status.NominatedNodeName != "":
		return nil, fmt.Sprintf("is unschedulable but nominated to node %s (preemption under way); waiting", pod.Status.NominatedNodeName)
	case mem.ScaleUp[pod.UID] != "":
		return nil, fmt.Sprintf("is waiting for a node: a scale-up is under way (%s); waiting up to the timeout", mem.ScaleUp[pod.UID])
	}
	held := mem.since(unschedulableKey(pod), now)
	if held >= opts.UnschedulableGrace {
		msg := fmt.Sprintf("unschedulable for %s with no scale-up under way: %s", held.Round(time.Second), c.Message)
		if no := mem.NoScaleUp[pod.UID]; no != "" {
			msg += "; cluster-autoscaler: " + no
		}
		return &Problem{Pod: pod.Name, Reason: ReasonUnschedulable, Message: msg}, ""
	}
	return nil, fmt.Sprintf("is unschedulable (%s); failing after %s unless a scale-up starts", firstLine(c.Message), opts.UnschedulableGrace)
}

// withLastExit adds the previous instance's exit to a crash report.
func withLastExit(p *Problem, cs corev1.ContainerStatus) *Problem {
	if t := cs.LastTerminationState.Terminated; t != nil {
		p.ExitCode = &t.ExitCode
		if t.Reason != "" && !strings.Contains(p.Message, "exit") {
			p.Message = strings.TrimSpace(fmt.Sprintf("%s (last exit %d, %s)", p.Message, t.ExitCode, t.Reason))
		}
	}
	return p
}

// httpStatus finds "429 Too Many Requests" in a registry's answer.
var httpStatus = regexp.MustCompile(`\b\d{3} [A-Z][A-Za-z ]*[a-z]`)

// shortCause is the tail of a pull error worth a progress line: the status
// or the innermost cause, at most 120 characters.
func shortCause(s string) string {
	if m := httpStatus.FindString(s); m != "" {
		return strings.TrimSpace(m)
	}
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return truncate(firstLine(s), 120)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return truncate(strings.TrimSpace(s), 200)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// waitingFor says what a transient boot cause waits for.
func waitingFor(b bootcause.Cause) string {
	what := b.Detail
	if bootcause.IsCall(b.Detail) { // OTP printed only the call that failed
		what = map[string]string{bootcause.DNS: "the host looked up in ", bootcause.DependencyUnreachable: "what is connected to in ",
			bootcause.PortInUse: "the port listened on in "}[b.Class] + b.Detail
	}
	switch b.Class {
	case bootcause.DNS:
		return "waiting for " + what + " to resolve"
	case bootcause.DependencyUnreachable:
		return "waiting for " + what + " to accept connections"
	case bootcause.PortInUse:
		return "waiting for " + what + " to be free"
	case bootcause.NodeName:
		return "waiting for the node's host name to resolve"
	}
	return ""
}

// envMayAppear reports whether a missing variable may be set at the next
// start: the container takes it (or all its environment) from an optional
// ConfigMap or Secret, which may be created meanwhile. Other permanent
// causes are the same at every start.
func envMayAppear(pod *corev1.Pod, container string, b bootcause.Cause) bool {
	if b.Class != bootcause.MissingEnv {
		return false
	}
	for _, c := range append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...) {
		if c.Name != container {
			continue
		}
		for _, e := range c.Env {
			if e.Name != b.Detail || e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil && r.Optional != nil && *r.Optional {
				return true
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil && r.Optional != nil && *r.Optional {
				return true
			}
		}
		for _, f := range c.EnvFrom {
			if r := f.ConfigMapRef; r != nil && r.Optional != nil && *r.Optional {
				return true
			}
			if r := f.SecretRef; r != nil && r.Optional != nil && *r.Optional {
				return true
			}
		}
	}
	return false
}
