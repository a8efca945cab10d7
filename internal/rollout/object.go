package rollout

import (
	"fmt"
	"sort"
	"time"

	kstatus "github.com/fluxcd/cli-utils/pkg/kstatus/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// ObjectSnapshot is one view of an object that is not a Deployment (a
// StatefulSet, DaemonSet, Job, or any other kind) and of the pods it owns.
type ObjectSnapshot struct {
	Object *unstructured.Unstructured
	// Pods are the pods the object controls (empty for kinds without pods).
	Pods []*corev1.Pod
	// Memory is what the watch saw before: its baseline holds the pods that
	// existed before our change, which never count against it.
	Memory   *Memory
	Now      time.Time
	Deadline time.Time
}

// EvaluateObject is the verdict on an object that is not a Deployment: a
// pure function. kstatus's computed status says whether it is done (Current)
// or stalled (Failed); while it is in progress, our doomed-pod rules judge
// the pods it created since the change, so a StatefulSet, DaemonSet or Job
// whose new pods crash-loop or cannot pull fails as fast as a Deployment.
func EvaluateObject(s ObjectSnapshot, opts Options) Verdict {
	opts = opts.withDefaults()
	mem := s.Memory
	if mem == nil {
		mem = &Memory{}
	}
	v := Verdict{Phase: Progressing}
	res, err := kstatus.Compute(s.Object)
	if err != nil {
		v.Message = fmt.Sprintf("status not computed yet: %v", err)
		return timeoutObject(v, s)
	}
	v.Message = string(res.Status)
	if res.Message != "" {
		v.Message += ": " + res.Message
	}
	switch res.Status {
	case kstatus.CurrentStatus:
		v.Phase = Succeeded
		return v
	case kstatus.FailedStatus:
		// kstatus fails a Pod on a first CrashLoopBackOff and a Job on its
		// backoff limit: only the latter (or a stalled condition) is final.
		if s.Object.GetKind() != "Pod" {
			v.Phase, v.Reason = Failed, "Stalled"
			if s.Object.GetKind() == "Job" {
				v.Reason = "JobFailed"
			}
			return v
		}
	case kstatus.TerminatingStatus, kstatus.NotFoundStatus:
		return timeoutObject(v, s)
	}
	if opts.FailFast {
		pods := append([]*corev1.Pod(nil), s.Pods...)
		sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
		var tolerated []string
		for _, p := range pods {
			if _, old := mem.Pods[p.UID]; old {
				continue
			}
			prob, note := judgePod(p, mem, s.Now, opts)
			if prob != nil {
				v.Problems = append(v.Problems, *prob)
			} else if note != "" {
				tolerated = append(tolerated, note)
			}
		}
		if len(v.Problems) > 0 {
			p := v.Problems[0]
			v.Phase, v.Reason, v.Message = Failed, p.Reason, p.String()
			return v
		}
		v.Tolerated = tolerated
	}
	return timeoutObject(v, s)
}

func timeoutObject(v Verdict, s ObjectSnapshot) Verdict {
	if !s.Deadline.IsZero() && !s.Now.Before(s.Deadline) {
		v.Phase, v.Reason = Failed, ReasonTimeout
		v.Message = "timed out: " + v.Message
	}
	return v
}

// ControlledPods are the pods whose controller is the object with uid.
func ControlledPods(uid types.UID, pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		for _, o := range p.OwnerReferences {
			if o.UID == uid && o.Controller != nil && *o.Controller {
				out = append(out, p)
			}
		}
	}
	return out
}
