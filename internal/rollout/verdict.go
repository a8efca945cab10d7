// Package rollout decides, from API objects alone, whether a Deployment's
// rollout is done, still progressing, or failed, and why; and watches a
// rollout until it reaches a verdict.
//
// The completion rules are kubectl's (pkg/polymorphichelpers/rollout_status.go)
// and come first; fail-fast adds the "doomed pod" rules that kubectl lacks,
// judged only on what happened since our change (see Memory): an image that
// cannot exist or be pulled with these credentials, a crash loop past the
// restart tolerance, a config error, a pod that stays unschedulable with no
// scale-up under way, a ReplicaSet that cannot create pods. Transient faults
// (one crash, a rate-limited pull, a node being added) are tolerated and said.
package rollout

import (
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/org/erlmcp-deploy/internal/bootcause"
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
	// ReasonTemplateChanged: another writer changed the pod template while we waited.
	ReasonTemplateChanged = "TemplateChanged"
	// ReasonBootFailure: a container's first crash names a cause no restart can clear.
	ReasonBootFailure = "BootFailure"
)

// Defaults of the fail-fast tolerances.
const (
	DefaultCrashLoopRestarts  = 2
	DefaultImagePullGrace     = 2 * time.Minute
	DefaultUnschedulableGrace = 60 * time.Second
	DefaultFailedCreateGrace  = 30 * time.Second
	// failedCreateSettle is how long a FailedCreate must last before it fails
	// a rollout that no terminating old pod can free room for.
	failedCreateSettle = 2 * time.Second
	// failedCreateRetry is how long after an old pod went a FailedCreate may
	// wait for the ReplicaSet controller's retry.
	failedCreateRetry = 10 * time.Second
)

// Options tune the fail-fast rules.
type Options struct {
	// FailFast enables the doomed-pod rules; without it only the progress
	// deadline and the timeout fail a rollout (kubectl's behaviour).
	FailFast bool
	// CrashLoopRestarts is how many restarts since the change a container that
	// is not Ready may have before it is a crash loop (default 2: a real
	// kubelet's 10 s / 20 s back-off reaches the third restart ~30 s in).
	CrashLoopRestarts int32
	// ImagePullGrace is how long a pull that fails for a transient cause
	// (429, timeout, TLS, reset) may keep failing (default 2m).
	ImagePullGrace time.Duration
	// UnschedulableGrace is how long a pod may stay unschedulable when no
	// scale-up is under way (default 60s).
	UnschedulableGrace time.Duration
	// FailedCreateGrace is how long a ReplicaSet may fail to create pods
	// (quota, admission) while terminating old pods may free room (default 30s).
	FailedCreateGrace time.Duration
}

func (o Options) withDefaults() Options {
	if o.CrashLoopRestarts <= 0 {
		o.CrashLoopRestarts = DefaultCrashLoopRestarts
	}
	if o.ImagePullGrace <= 0 {
		o.ImagePullGrace = DefaultImagePullGrace
	}
	if o.UnschedulableGrace <= 0 {
		o.UnschedulableGrace = DefaultUnschedulableGrace
	}
	if o.FailedCreateGrace <= 0 {
		o.FailedCreateGrace = DefaultFailedCreateGrace
	}
	return o
}

// Snapshot is what the verdict is computed from.
type Snapshot struct {
	Deployment *appsv1.Deployment
	// MinGeneration is the generation our change produced: an older cached
	// Deployment is not evidence about our rollout.
	MinGeneration int64
	// Template is the pod template our change set (nil: not checked). A
	// Deployment whose template differs was changed by another writer.
	Template *corev1.PodTemplateSpec
	// FieldManager is ours, so another writer can be named from managedFields.
	FieldManager string
	// NewReplicaSet is the ReplicaSet whose template matches the Deployment's (nil until created).
	NewReplicaSet *appsv1.ReplicaSet
	// Pods are the pods of NewReplicaSet.
	Pods []*corev1.Pod
	// OldPods are the Deployment's other pods (terminating ones free quota).
	OldPods []*corev1.Pod
	// Memory is what the watch saw before (nil: nothing; no baseline, no graces elapsed).
	Memory *Memory
	Now    time.Time
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
	// Boot is what the crashed instance's log names as the cause (nil: not read).
	Boot *bootcause.Cause `json:"boot,omitempty"`
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
	// Tolerated lists faults seen and tolerated so far (a crash within the
	// tolerance, a pull being retried, a node being added), for progress lines.
	Tolerated []string
}

// Evaluate is the verdict of a rollout snapshot: a pure function. The order
// is: is it our rollout (generation, template), then kubectl's completion
// rules (a complete rollout is never failed by fail-fast), then the
// doomed-pod rules, then the deadline.
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
	if s.Template != nil && !history.EqualIgnoreHash(&d.Spec.Template, s.Template) {
		v.Phase, v.Reason = Failed, ReasonTemplateChanged
		v.Message = TemplateChange(d, s.Template, s.FieldManager)
		return v
	}
	if d.Status.ObservedGeneration >= d.Generation {
		v.Progress = progressOf(d) // before that, the counts describe the previous rollout
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
	if opts.FailFast {
		mem := s.Memory
		if mem == nil {
			mem = &Memory{}
		}
		if p, note := replicaSetProblem(s.NewReplicaSet, s.Pods, s.OldPods, mem, s.Now, opts); p != nil {
			v.Problems = append(v.Problems, *p)
		} else if note != "" {
			v.Tolerated = append(v.Tolerated, note)
		}
		pods := append([]*corev1.Pod(nil), s.Pods...)
		sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
		for _, pod := range pods {
			p, note := judgePod(pod, mem, s.Now, opts)
			switch {
			case p != nil:
				v.Problems = append(v.Problems, *p)
			case note != "":
				v.Tolerated = append(v.Tolerated, note)
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
		if len(v.Tolerated) > 0 {
			v.Message += "; " + strings.Join(v.Tolerated, "; ")
		}
	}
	return timeout(v, s)
}

// TemplateChange says who changed a Deployment's pod template away from
// ours and what they set, from managedFields: "deployment erlmcp's pod
// template was changed by argocd-controller (Update at 12:00:03): container
// erlmcp runs x:2, we deployed x:3".
func TemplateChange(d *appsv1.Deployment, ours *corev1.PodTemplateSpec, ourManager string) string {
	writer := "another writer"
	if w := TemplateWriter(d, ourManager); w != "" {
		writer = w
	}
	var diffs []string
	want := map[string]string{}
	for _, c := range ours.Spec.Containers {
		want[c.Name] = c.Image
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		if img, ok := want[c.Name]; ok && img != c.Image {
			diffs = append(diffs, fmt.Sprintf("container %s runs %s, we deployed %s", c.Name, c.Image, img))
		}
	}
	what := strings.Join(diffs, "; ")
	if what == "" {
		what = "the images are ours but other fields of the template differ"
	}
	return fmt.Sprintf("deployment %s's pod template was changed by %s while we waited: %s", d.Name, writer, what)
}

// TemplateWriter names the newest writer of the pod template other than
// ourManager, from managedFields ("" when none is recorded).
func TemplateWriter(d *appsv1.Deployment, ourManager string) string {
	var best *metav1.ManagedFieldsEntry
	for i := range d.ManagedFields {
		e := &d.ManagedFields[i]
		if e.Manager == ourManager || e.Subresource != "" || e.FieldsV1 == nil || !strings.Contains(string(e.FieldsV1.Raw), `"f:template"`) {
			continue
		}
		if best == nil || (e.Time != nil && (best.Time == nil || e.Time.After(best.Time.Time))) {
			best = e
		}
	}
	if best == nil {
		return ""
	}
	s := fmt.Sprintf("%s (%s", best.Manager, best.Operation)
	if best.Time != nil {
		s += " at " + best.Time.UTC().Format(time.TimeOnly)
	}
	return s + ")"
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
