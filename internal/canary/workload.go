// Package canary rolls a new image out as a canary judged from the
// workflow alone: a <deployment>-canary Deployment next to the stable one
// (selected by the same Service), sized per step, verified by the fail-fast
// verdict and judged by metrics (package analysis) against an optional
// <deployment>-baseline on the old image; promoted by the normal rolling
// deploy of the stable Deployment, or aborted by deleting the canary — the
// stable Deployment is never touched until promotion.
package canary

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/org/erlmcp-deploy/internal/progressive"
)

// Labels and annotations of the canary's workloads (owned by package progressive).
const (
	// TrackLabel tells the canary's and baseline's pods from stable's ("canary", "baseline").
	TrackLabel = progressive.TrackLabel
	// OfLabel names the stable Deployment a canary or baseline belongs to.
	OfLabel = progressive.OfLabel
	// StateAnnotation on the stable Deployment records a canary under way.
	StateAnnotation = progressive.StateAnnotation
)

// Tracks.
const (
	TrackCanary   = progressive.TrackCanary
	TrackBaseline = progressive.TrackBaseline
)

// ParseSteps reads canary-steps ("10,50" or one per line): increasing
// percentages from 1 to 99.
func ParseSteps(items []string) ([]int, error) {
	var out []int
	for _, s := range items {
		s = strings.TrimSuffix(strings.TrimSpace(s), "%")
		n, err := strconv.Atoi(s)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%q is not a whole percentage", s)
		case n < 1 || n > 99:
			return nil, fmt.Errorf("%d%% is outside 1..99 (100%% is the promotion, which follows the last step)", n)
		case len(out) > 0 && n <= out[len(out)-1]:
			return nil, fmt.Errorf("steps must increase: %d%% after %d%%", n, out[len(out)-1])
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no steps")
	}
	return out, nil
}

// Replicas is the size of the canary at percent of desired stable replicas:
// at least one pod, never more than desired (stable is never scaled down,
// so stable always keeps all of its pods).
func Replicas(percent int, desired int32) int32 {
	n := int32(math.Ceil(float64(percent) * float64(desired) / 100))
	return max(1, min(n, max(desired, 1)))
}

// Share is the fraction of all pods that run the canary.
func Share(canary, stable int32) float64 {
	if canary+stable == 0 {
		return 0
	}
	return float64(canary) / float64(canary+stable)
}

// Workload is the Deployment of a track: stable's spec with the track label
// added to its selector and pod labels (so a Service selecting stable's pods
// selects it too), image in container and in the named init containers,
// and replicas pods. A pure function.
func Workload(stable *appsv1.Deployment, track, image, container string, inits []string, replicas int32) *appsv1.Deployment {
	d := &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      stable.Name + "-" + track,
			Namespace: stable.Namespace,
			Labels:    merge(stable.Labels, map[string]string{TrackLabel: track, OfLabel: stable.Name}),
		},
	}
	spec := stable.Spec.DeepCopy()
	spec.Replicas = &replicas
	spec.Paused = false
	sel := spec.Selector.DeepCopy()
	sel.MatchLabels = merge(sel.MatchLabels, map[string]string{TrackLabel: track})
	spec.Selector = sel
	spec.Template.Labels = merge(spec.Template.Labels, map[string]string{TrackLabel: track})
	// Not annotations a controller or our history reads from the stable Deployment's pods.
	delete(spec.Template.Annotations, "kubectl.kubernetes.io/restartedAt")
	for i := range spec.Template.Spec.Containers {
		if spec.Template.Spec.Containers[i].Name == container {
			spec.Template.Spec.Containers[i].Image = image
		}
	}
	for i := range spec.Template.Spec.InitContainers {
		for _, n := range inits {
			if spec.Template.Spec.InitContainers[i].Name == n {
				spec.Template.Spec.InitContainers[i].Image = image
			}
		}
	}
	d.Spec = *spec
	return d
}

func merge(a, b map[string]string) map[string]string {
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// State is a canary under way, recorded on the stable Deployment (package
// progressive owns the record).
type State = progressive.State

// ReadState reads the state annotation of d (nil when there is none).
func ReadState(d *appsv1.Deployment) (*State, error) { return progressive.Read(d) }
