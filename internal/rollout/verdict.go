// Package rollout decides, from API objects alone, whether a Deployment's
// rollout is done, still progressing, or failed, and why; and watches a
// rollout until it reaches a verdict.
//
// The completion rules are kubectl's (pkg/polymorphichelpers/rollout_status.go);
// fail-fast adds the "doomed pod" rules that kubectl lacks: a new pod that
// cannot pull its image, crash-loops, cannot be configured, is OOM-killed,
// keeps restarting, failed, or stays unschedulable fails the rollout at once.
package rollout

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/org/erlmcp-deploy/internal/history"
)

// Phase is where a rollout stands.
type Phase string

// Phases of a rollout.
const (
	Progressing Phase = "progressing"
	Succeeded   Phase = "succeeded"
	Failed      Phase = "failed"
)

// Failure reasons that are not a pod's own.
const (
	ReasonProgressDeadline = "ProgressDeadlineExceeded"
	ReasonTimeout          = "Timeout"
	ReasonFailedCreate     = "FailedCreate"
	ReasonRestarts         = "RestartThresholdExceeded"
	ReasonUnschedulable    = "Unschedulable"
	// ReasonAPIUnavailable: the API server kept failing, so the rollout's state is unknown.
	ReasonAPIUnavailable = "APIUnavailable"
)

// Options tune the fail-fast rules.
type Options struct {
	// FailFast enables the doomed-pod rules; without it only the progress
	// deadline and the timeout fail a rollout (kubectl's behaviour).
	FailFast bool
	// RestartThreshold fails a new pod whose container restarted more often (default 3).
	RestartThreshold int32
	// UnschedulableGrace is how long a new pod may stay unschedulable (default 60s).
	UnschedulableGrace time.Duration
}

func (o Options) withDefaults() Options {
	if o.RestartThreshold == 0 {
		o.RestartThreshold = 3
	}
	if o.UnschedulableGrace == 0 {
		o.UnschedulableGrace = 60 * time.Second
	}
	return o
}

// Snapshot is what the verdict is computed from.
type Snapshot struct {
	Deployment *appsv1.Deployment
	// MinGeneration is the generation our change produced: an older cached
	// Deployment is not evidence about our rollout.
	MinGeneration int64
	// NewReplicaSet is the ReplicaSet whose template matches the Deployment's (nil until created).
	NewReplicaSet *appsv1.ReplicaSet
	// Pods are the pods of NewReplicaSet.
	Pods []*corev1.Pod
	Now  time.Time
	// Deadline is when waiting stops (zero: never).
	Deadline time.Time
}

// Problem is why one pod (or the ReplicaSet) dooms the rollout.
type Problem struct {
	Pod       string `json:"pod,omitempty"`
	Container string `json:"container,omitempty"`
	Reason    string `json:"reason"`
	Message   string `json:"message,omitempty"`
	Restarts  int32  `json:"restarts,omitempty"`
	ExitCode  *int32 `json:"exitCode,omitempty"`
}

// String is "pod/container: Reason: message".
func (p Problem) String() string {
	var b strings.Builder
	if p.Pod != "" {
		b.WriteString(p.Pod)
		if p.Container != "" {
			b.WriteString("/" + p.Container)
		}
		b.WriteString(": ")
	}
	b.WriteString(p.Reason)
	if p.Message != "" {
		b.WriteString(": " + p.Message)
	}
	return b.String()
}

// Progress counts replicas the way `kubectl rollout status` talks about them.
type Progress struct {
	Desired, Updated, Ready, Available, Total int32
}

// String is e.g. "2/3 updated, 1/3 available".
func (p Progress) String() string {
	s := fmt.Sprintf("%d/%d updated, %d/%d available", p.Updated, p.Desired, min(p.Available, p.Desired), p.Desired)
	if surge := p.Available - p.Desired; surge > 0 {
		s += fmt.Sprintf(" (+%d surge)", surge)
	}
	if old := p.Total - p.Updated; old > 0 {
		s += fmt.Sprintf(", %d old pending termination", old)
	}
	return s
}

// Verdict is the state of a rollout at one moment.
type Verdict struct {
	Phase Phase
	// Reason is a short machine word (a container waiting reason, ProgressDeadlineExceeded, Timeout, ...).
	Reason string
	// Message says the same for people.
	Message  string
	Progress Progress
	// Problems lists every doomed pod found (fail-fast).
	Problems []Problem
}

// Evaluate is the verdict of a rollout snapshot: a pure function.
func Evaluate(s Snapshot, opts Options) Verdict {
	opts = opts.withDefaults()
	d := s.Deployment
	v := Verdict{Phase: Progressing}
	if d == nil {
		v.Message = "waiting for the Deployment"
		return timeout(v, s)
	}
	if d.Generation < s.MinGeneration {
		v.Message = "waiting for the change to be seen"
		return timeout(v, s)
	}
	if d.Status.ObservedGeneration >= d.Generation {
		v.Progress = progressOf(d) // before that, the counts describe the previous rollout
	}
	if opts.FailFast {
		if p := replicaSetProblem(s.NewReplicaSet); p != nil {
			v.Problems = append(v.Problems, *p)
		}
		pods := append([]*corev1.Pod(nil), s.Pods...)
		sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
		for _, pod := range pods {
			if p := DoomedPod(pod, s.Now, opts); p != nil {
				v.Problems = append(v.Problems, *p)
			}
		}
		if len(v.Problems) > 0 {
			first := v.Problems[0]
			v.Phase, v.Reason = Failed, first.Reason
			v.Message = first.String()
			if n := len(v.Problems); n > 1 {
				v.Message += fmt.Sprintf(" (and %d more)", n-1)
			}
			return v
		}
	}
	msg, done, err := DeploymentStatus(d)
	switch {
	case err != nil:
		v.Phase, v.Reason, v.Message = Failed, ReasonProgressDeadline, err.Error()
		return v
	case done:
		v.Phase, v.Message = Succeeded, msg
		return v
	}
	v.Message = msg
	return timeout(v, s)
}

// APIFailing is what the watcher knows of a failing API server: since when
// its list and watch calls fail, and the first error.
type APIFailing struct {
	Since time.Time
	Err   error
}

// WithAPIHealth qualifies a verdict reached on a cache that the API server
// stopped refreshing (f.Since is zero when it answers): a progress message
// says so, and a timeout says the state is unknown rather than blaming the pods.
func WithAPIHealth(v Verdict, f APIFailing) Verdict {
	if f.Since.IsZero() {
		return v
	}
	switch {
	case v.Phase == Progressing:
		v.Message += fmt.Sprintf(" (the API server is failing, retrying: %v)", f.Err)
	case v.Phase == Failed && v.Reason == ReasonTimeout:
		v.Reason = ReasonAPIUnavailable
		v.Message = fmt.Sprintf("the API server kept failing since %s (%v): the rollout's state is unknown; when last seen: %s",
			f.Since.UTC().Format(time.TimeOnly), f.Err, strings.TrimPrefix(v.Message, "timed out: "))
	}
	return v
}

func timeout(v Verdict, s Snapshot) Verdict {
	if !s.Deadline.IsZero() && !s.Now.Before(s.Deadline) {
		v.Phase, v.Reason = Failed, ReasonTimeout
		v.Message = "timed out: " + v.Message
	}
	return v
}

// Describe says what a Deployment runs and how far its rollout is, in one
// line: "deployment erlmcp is at revision 3 (ghcr.io/acme/erlmcp:1.0.0): 1/3 updated, 3/3 available".
func Describe(d *appsv1.Deployment) string {
	var images []string
	for _, c := range d.Spec.Template.Spec.Containers {
		images = append(images, c.Image)
	}
	if d.Status.ObservedGeneration < d.Generation {
		return fmt.Sprintf("deployment %s's template runs %s; the controller has not started rolling it out (revision %s is the last it saw)",
			d.Name, strings.Join(images, ", "), d.Annotations[history.RevisionAnnotation])
	}
	return fmt.Sprintf("deployment %s is at revision %s (%s): %s", d.Name, d.Annotations[history.RevisionAnnotation], strings.Join(images, ", "), progressOf(d))
}

func progressOf(d *appsv1.Deployment) Progress {
	desired := int32(1)
	if d.Spec.Replicas != nil {
		desired = *d.Spec.Replicas
	}
	st := d.Status
	return Progress{Desired: desired, Updated: st.UpdatedReplicas, Ready: st.ReadyReplicas, Available: st.AvailableReplicas, Total: st.Replicas}
}

// DeploymentStatus is kubectl's DeploymentStatusViewer.Status: a message,
// whether the rollout is done, and an error once the progress deadline passed.
func DeploymentStatus(d *appsv1.Deployment) (string, bool, error) {
	if d.Generation > d.Status.ObservedGeneration {
		return "waiting for deployment spec update to be observed", false, nil
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return "", false, fmt.Errorf("deployment %q exceeded its progress deadline", d.Name)
		}
	}
	st := d.Status
	if d.Spec.Replicas != nil && st.UpdatedReplicas < *d.Spec.Replicas {
		return fmt.Sprintf("%d out of %d new replicas have been updated", st.UpdatedReplicas, *d.Spec.Replicas), false, nil
	}
	if st.Replicas > st.UpdatedReplicas {
		return fmt.Sprintf("%d old replicas are pending termination", st.Replicas-st.UpdatedReplicas), false, nil
	}
	if st.AvailableReplicas < st.UpdatedReplicas {
		return fmt.Sprintf("%d of %d updated replicas are available", st.AvailableReplicas, st.UpdatedReplicas), false, nil
	}
	return fmt.Sprintf("deployment %q successfully rolled out", d.Name), true, nil
}

// transientCreate matches pod-create failures that the ReplicaSet controller
// will retry on its own: the API server or etcd briefly unavailable.
var transientCreate = regexp.MustCompile(`(?i)unavailable|connection reset|connection refused|timeout|timed out|too many requests|try again|etcdserver|currently unable`)

// replicaSetProblem reports a ReplicaSet that cannot create its pods (quota, admission, ...).
func replicaSetProblem(rs *appsv1.ReplicaSet) *Problem {
	if rs == nil {
		return nil
	}
	for _, c := range rs.Status.Conditions {
		if c.Type == appsv1.ReplicaSetReplicaFailure && c.Status == corev1.ConditionTrue && !transientCreate.MatchString(c.Message) {
			reason := c.Reason
			if reason == "" {
				reason = ReasonFailedCreate
			}
			return &Problem{Pod: "replicaset/" + rs.Name, Reason: reason, Message: c.Message}
		}
	}
	return nil
}

// imageMissing matches ErrImagePull messages that no retry will fix.
var imageMissing = regexp.MustCompile(`(?i)not found|manifest unknown|unauthorized|denied|forbidden|repository does not exist|invalid reference format|\b40[134]\b`)

// DoomedPod says why a new pod will never become ready, or nil when it may
// still (a slow start, one ErrImagePull the kubelet will retry, a pod that
// waits for the scheduler a little).
func DoomedPod(pod *corev1.Pod, now time.Time, opts Options) *Problem {
	opts = opts.withDefaults()
	if pod.DeletionTimestamp != nil {
		return nil
	}
	if pod.Status.Phase == corev1.PodFailed && pod.Status.Reason != "Evicted" && pod.Status.Reason != "Preempting" {
		reason := pod.Status.Reason
		if reason == "" {
			reason = "Failed"
		}
		return &Problem{Pod: pod.Name, Reason: reason, Message: pod.Status.Message}
	}
	statuses := append(append([]corev1.ContainerStatus(nil), pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, cs := range statuses {
		if p := doomedContainer(cs, opts); p != nil {
			p.Pod = pod.Name
			return p
		}
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable &&
			now.Sub(c.LastTransitionTime.Time) >= opts.UnschedulableGrace {
			return &Problem{Pod: pod.Name, Reason: ReasonUnschedulable,
				Message: fmt.Sprintf("unschedulable for %s: %s", now.Sub(c.LastTransitionTime.Time).Round(time.Second), c.Message)}
		}
	}
	return nil
}

func doomedContainer(cs corev1.ContainerStatus, opts Options) *Problem {
	p := &Problem{Container: cs.Name, Restarts: cs.RestartCount}
	if w := cs.State.Waiting; w != nil {
		p.Reason, p.Message = w.Reason, w.Message
		switch w.Reason {
		case "CrashLoopBackOff", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
			"CreateContainerError", "RunContainerError", "PreCreateHookError", "PostStartHookError":
			return withLastExit(p, cs)
		case "ErrImagePull":
			if imageMissing.MatchString(w.Message) {
				return p
			}
		case "CreateContainerConfigError":
			// The kubelet's own informers can lag at start: "failed to sync configmap cache".
			if !(strings.Contains(w.Message, "failed to sync") && strings.Contains(w.Message, "cache")) {
				return p
			}
		}
	}
	if t := cs.State.Terminated; t != nil {
		if t.Reason == "OOMKilled" || (t.Reason == "ContainerCannotRun" && t.ExitCode != 128) {
			p.Reason, p.Message, p.ExitCode = t.Reason, t.Message, &t.ExitCode
			return p
		}
	}
	if t := cs.LastTerminationState.Terminated; t != nil && t.Reason == "OOMKilled" {
		p.Reason, p.ExitCode = "OOMKilled", &t.ExitCode
		p.Message = fmt.Sprintf("the container was OOM-killed (exit %d) and restarted %d time(s); raise its memory limit or fix the leak", t.ExitCode, cs.RestartCount)
		return p
	}
	if cs.RestartCount > opts.RestartThreshold {
		p.Reason = ReasonRestarts
		p.Message = fmt.Sprintf("restarted %d times (threshold %d)", cs.RestartCount, opts.RestartThreshold)
		return withLastExit(p, cs)
	}
	return nil
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
