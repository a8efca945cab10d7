// Package progressive owns the state of a progressive rollout (a canary or
// a blue-green) of one Deployment: the one annotation that records it on the
// stable Deployment (Read, Write) and Settle, which every deploy and the
// rollback action run first — under the deploy lock — to undo what an
// earlier, unfinished run left. Nothing else writes the annotation.
package progressive

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Labels and annotations of the progressive workloads.
const (
	// StateAnnotation on the stable Deployment records a progressive rollout under way.
	StateAnnotation = "erlmcp-deploy.io/progressive"
	// TrackLabel tells canary, baseline and green pods from stable's.
	TrackLabel = "erlmcp-deploy.io/track"
	// OfLabel names the stable Deployment a canary, baseline or green workload belongs to.
	OfLabel = "erlmcp-deploy.io/canary-of"
	// HashLabel is the label a blue-green pins the live Service by.
	HashLabel = appsv1.DefaultDeploymentUniqueLabelKey
	// FieldManager is the field manager of our writes (the same as the rollout's).
	FieldManager = "erlmcp-deploy"
)

// Tracks and strategies.
const (
	TrackCanary   = "canary"
	TrackBaseline = "baseline"
	TrackGreen    = "green"

	StrategyCanary    = "canary"
	StrategyBlueGreen = "blue-green"
)

// Ref is an object a progressive rollout created besides its workloads (a
// release canary's new ConfigMap, Secret, ServiceAccount or claim).
type Ref struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// State is a progressive rollout under way, recorded on the stable
// Deployment so the next run (or the rollback action) can undo it if this
// run dies.
type State struct {
	// Strategy is StrategyCanary or StrategyBlueGreen.
	Strategy string    `json:"strategy"`
	Image    string    `json:"image"`
	Run      string    `json:"run"`
	Started  time.Time `json:"started"`

	// A canary's step (1-based) and size.
	Step    int `json:"step,omitempty"`
	Percent int `json:"percent,omitempty"`
	// Workloads are the Deployments the canary created.
	Workloads []string `json:"workloads,omitempty"`
	// Waiting: the analysis was inconclusive and a person decides (canary-decision).
	Waiting bool   `json:"waiting,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// Identity is what the canary tried (a digest of its pod templates), so
	// a decision promotes only what was tried.
	Identity string `json:"identity,omitempty"`
	// Created are objects made for a release canary's pods; Settle removes
	// them once the canary is gone (a promotion hands them to the release).
	Created []Ref `json:"created,omitempty"`

	// A blue-green's live Service and the pod-template-hashes of the old
	// (blue) and new (green) pods; Switched once the Service selects green.
	Service  string `json:"service,omitempty"`
	Blue     string `json:"blue,omitempty"`
	Green    string `json:"green,omitempty"`
	Switched bool   `json:"switched,omitempty"`
}

// Read reads the state annotation of d (nil when there is none).
func Read(d *appsv1.Deployment) (*State, error) {
	raw, ok := d.Annotations[StateAnnotation]
	if !ok || raw == "" {
		return nil, nil
	}
	var s State
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return nil, fmt.Errorf("deployment %s: annotation %s: %w", d.Name, StateAnnotation, err)
	}
	sort.Strings(s.Workloads)
	return &s, nil
}

// Write records st on deployment (nil removes the record). It is the only
// writer of StateAnnotation.
func Write(ctx context.Context, client kubernetes.Interface, namespace, deployment string, st *State) error {
	value := any(nil)
	if st != nil {
		raw, err := json.Marshal(st)
		if err != nil {
			return err
		}
		value = string(raw)
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{StateAnnotation: value}}})
	if _, err := client.AppsV1().Deployments(namespace).Patch(ctx, deployment, types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: FieldManager}); err != nil {
		return fmt.Errorf("record the progressive rollout's state on deployment %s: %w", deployment, err)
	}
	return nil
}
