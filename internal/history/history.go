// Package history reads a Deployment's revision history from its ReplicaSets
// and rolls it back with kubectl's semantics (k8s.io/kubectl rollback.go):
// the revision's pod template is copied back, and so are its annotations.
package history

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Annotations kubectl and the deployment controller use, and ours.
const (
	RevisionAnnotation    = "deployment.kubernetes.io/revision"
	ChangeCauseAnnotation = "kubernetes.io/change-cause"
	// SuccessfulAnnotation marks a ReplicaSet whose rollout erlmcp-deploy verified
	// (or found serving complete and Available when it first adopted it).
	SuccessfulAnnotation = "erlmcp-deploy.io/successful"
	// FailedAnnotation marks a ReplicaSet whose rollout failed, or that was rolled
	// back from: "<time> <reason>". It is never a rollback target for last-successful.
	FailedAnnotation = "erlmcp-deploy.io/failed"
	hashLabel        = appsv1.DefaultDeploymentUniqueLabelKey
)

// rollbackSkipped are the Deployment annotations a rollback keeps from the
// Deployment instead of copying them from the ReplicaSet (kubectl's list).
var rollbackSkipped = map[string]bool{
	corev1.LastAppliedConfigAnnotation:          true,
	RevisionAnnotation:                          true,
	"deployment.kubernetes.io/revision-history": true,
	"deployment.kubernetes.io/desired-replicas": true,
	"deployment.kubernetes.io/max-replicas":     true,
	appsv1.DeprecatedRollbackTo:                 true,
}

// Revision is one entry of a Deployment's history.
type Revision struct {
	Number      int64     `json:"revision"`
	Images      []string  `json:"images"`
	ChangeCause string    `json:"change-cause"`
	Created     time.Time `json:"created"`
	Current     bool      `json:"current"`
	Successful  bool      `json:"successful"`
	// Failed says why erlmcp-deploy recorded this revision as failed ("" = not).
	Failed string `json:"failed,omitempty"`
	// ReplicaSet is the ReplicaSet that holds this revision.
	ReplicaSet *appsv1.ReplicaSet `json:"-"`
}

// RevisionOf reads deployment.kubernetes.io/revision (0 when absent).
func RevisionOf(obj metav1.Object) (int64, error) {
	v, ok := obj.GetAnnotations()[RevisionAnnotation]
	if !ok || v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s has a bad %s annotation %q: %w", obj.GetName(), RevisionAnnotation, v, err)
	}
	return n, nil
}

// Images lists a pod template's container images, in order.
func Images(t *corev1.PodTemplateSpec) []string {
	out := make([]string, 0, len(t.Spec.Containers))
	for _, c := range t.Spec.Containers {
		out = append(out, c.Image)
	}
	return out
}

// EqualIgnoreHash reports whether two pod templates are equal apart from the
// pod-template-hash label, as the deployment controller compares them.
func EqualIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	a1, b1 := a.DeepCopy(), b.DeepCopy()
	delete(a1.Labels, hashLabel)
	delete(b1.Labels, hashLabel)
	return apiequality.Semantic.DeepEqual(a1, b1)
}

// Owned returns the ReplicaSets controlled by d.
func Owned(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rss {
		if ref := metav1.GetControllerOf(rs); ref != nil && ref.UID == d.UID {
			out = append(out, rs)
		}
	}
	return out
}

// NewReplicaSet is the owned ReplicaSet whose template matches d's (the
// oldest one if several do, like the deployment controller), or nil.
func NewReplicaSet(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	owned := Owned(d, rss)
	sort.Slice(owned, func(i, j int) bool {
		if !owned[i].CreationTimestamp.Equal(&owned[j].CreationTimestamp) {
			return owned[i].CreationTimestamp.Before(&owned[j].CreationTimestamp)
		}
		return owned[i].Name < owned[j].Name
	})
	for _, rs := range owned {
		if EqualIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			return rs
		}
	}
	return nil
}

// Build turns d's ReplicaSets into its history, newest revision first.
func Build(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) ([]Revision, error) {
	current := NewReplicaSet(d, rss)
	var out []Revision
	for _, rs := range Owned(d, rss) {
		n, err := RevisionOf(rs)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			continue
		}
		_, ok := rs.Annotations[SuccessfulAnnotation]
		failed, bad := rs.Annotations[FailedAnnotation]
		if bad && failed == "" {
			failed = "failed"
		}
		out = append(out, Revision{
			Number: n, Images: Images(&rs.Spec.Template), ChangeCause: rs.Annotations[ChangeCauseAnnotation],
			Created: rs.CreationTimestamp.Time, Current: current != nil && rs.UID == current.UID, Successful: ok && !bad, Failed: failed, ReplicaSet: rs,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number > out[j].Number })
	return out, nil
}

// List reads d's history from the cluster.
func List(ctx context.Context, client kubernetes.Interface, d *appsv1.Deployment) ([]Revision, error) {
	rss, err := listReplicaSets(ctx, client, d)
	if err != nil {
		return nil, err
	}
	return Build(d, rss)
}

func listReplicaSets(ctx context.Context, client kubernetes.Interface, d *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s selector: %w", d.Name, err)
	}
	list, err := client.AppsV1().ReplicaSets(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("list replicasets of deployment %s: %w", d.Name, err)
	}
	out := make([]*appsv1.ReplicaSet, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

// Find returns the revision numbered n, or an error listing the valid ones.
func Find(revs []Revision, n int64) (Revision, error) {
	var valid []string
	for _, r := range revs {
		if r.Number == n {
			return r, nil
		}
		valid = append(valid, strconv.FormatInt(r.Number, 10))
	}
	return Revision{}, fmt.Errorf("revision %d not found; the history holds %s", n, strings.Join(valid, ", "))
}

// UndoPatch is the JSON patch that rolls d back to rs: kubectl's template and
// annotation rules, guarded by d's resourceVersion so a concurrent change is
// never overwritten. keep lists extra Deployment annotations to preserve.
// skip is true when d already runs rs's template.
func UndoPatch(d *appsv1.Deployment, rs *appsv1.ReplicaSet, keep ...string) (patch []byte, skip bool, err error) {
	if EqualIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
		return nil, true, nil
	}
	tmpl := rs.Spec.Template.DeepCopy()
	delete(tmpl.Labels, hashLabel)
	annotations := map[string]string{}
	for k, v := range d.Annotations {
		if rollbackSkipped[k] || contains(keep, k) {
			annotations[k] = v
		}
	}
	for k, v := range rs.Annotations {
		if !rollbackSkipped[k] && !contains(keep, k) && k != SuccessfulAnnotation && k != FailedAnnotation {
			annotations[k] = v
		}
	}
	patch, err = json.Marshal([]map[string]any{
		{"op": "test", "path": "/metadata/resourceVersion", "value": d.ResourceVersion},
		{"op": "replace", "path": "/spec/template", "value": tmpl},
		{"op": "replace", "path": "/metadata/annotations", "value": annotations},
	})
	return patch, false, err
}

// UndoResult says what Undo did.
type UndoResult struct {
	// Skipped is true when the Deployment already ran the target template.
	Skipped    bool
	To         Revision
	Deployment *appsv1.Deployment
}

// Undo rolls d back to revision n (kubectl rollout undo --to-revision=n). A
// paused Deployment is an error; dryRun sends the patch as a server-side dry run.
func Undo(ctx context.Context, client kubernetes.Interface, d *appsv1.Deployment, n int64, dryRun bool) (UndoResult, error) {
	if d.Spec.Paused {
		return UndoResult{}, fmt.Errorf("deployment %s is paused: resume it (kubectl rollout resume deployment/%s) before rolling back", d.Name, d.Name)
	}
	revs, err := List(ctx, client, d)
	if err != nil {
		return UndoResult{}, err
	}
	target, err := Find(revs, n)
	if err != nil {
		return UndoResult{}, fmt.Errorf("roll back deployment %s: %w", d.Name, err)
	}
	opts := metav1.PatchOptions{FieldManager: "erlmcp-deploy"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	// The patch is guarded by the resourceVersion it was computed from. The
	// deployment controller bumps it with every status update, so a failed
	// guard is retried on a fresh read; a change of the template itself is
	// then seen by UndoPatch (skip) or overwritten only knowingly.
	for attempt := 1; ; attempt++ {
		patch, skip, err := UndoPatch(d, target.ReplicaSet)
		if err != nil {
			return UndoResult{}, err
		}
		if skip {
			return UndoResult{Skipped: true, To: target, Deployment: d}, nil
		}
		out, err := client.AppsV1().Deployments(d.Namespace).Patch(ctx, d.Name, types.JSONPatchType, patch, opts)
		if err == nil {
			return UndoResult{To: target, Deployment: out}, nil
		}
		stale := apierrors.IsInvalid(err) || apierrors.IsConflict(err)
		if !stale || attempt == 5 {
			return UndoResult{}, fmt.Errorf("roll back deployment %s to revision %d: %w", d.Name, n, err)
		}
		fresh, gerr := client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		if gerr != nil {
			return UndoResult{}, fmt.Errorf("roll back deployment %s to revision %d: %w (and re-reading it: %v)", d.Name, n, err, gerr)
		}
		if fresh.ResourceVersion == d.ResourceVersion {
			return UndoResult{}, fmt.Errorf("roll back deployment %s to revision %d: %w", d.Name, n, err)
		}
		if fresh.Spec.Paused {
			return UndoResult{}, fmt.Errorf("deployment %s was paused meanwhile: resume it before rolling back", d.Name)
		}
		d = fresh
	}
}

// MarkSuccessful annotates rs as a verified revision (for rollback to
// last-successful) and clears a failed mark.
func MarkSuccessful(ctx context.Context, client kubernetes.Interface, rs *appsv1.ReplicaSet, at time.Time) error {
	return mark(ctx, client, rs, map[string]any{SuccessfulAnnotation: at.UTC().Format(time.RFC3339), FailedAnnotation: nil}, "successful")
}

// MarkFailed records rs as failed, with why, and clears its verified mark:
// it is never picked as last-successful again.
func MarkFailed(ctx context.Context, client kubernetes.Interface, rs *appsv1.ReplicaSet, at time.Time, why string) error {
	if len(why) > 200 {
		why = why[:200] + "…"
	}
	return mark(ctx, client, rs, map[string]any{FailedAnnotation: at.UTC().Format(time.RFC3339) + " " + why, SuccessfulAnnotation: nil}, "failed")
}

func mark(ctx context.Context, client kubernetes.Interface, rs *appsv1.ReplicaSet, annotations map[string]any, what string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	if err != nil {
		return err
	}
	if _, err := client.AppsV1().ReplicaSets(rs.Namespace).Patch(ctx, rs.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "erlmcp-deploy"}); err != nil {
		return fmt.Errorf("mark replicaset %s %s: %w", rs.Name, what, err)
	}
	return nil
}

// Serving is the ReplicaSet of d's current template, when d's rollout is
// complete and Available and erlmcp-deploy never recorded it as failed: what
// is serving then is presumed good. why says what is wrong otherwise.
func Serving(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) (rs *appsv1.ReplicaSet, why string) {
	rs = NewReplicaSet(d, rss)
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	available := false
	for _, c := range st.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			available = true
		}
	}
	switch {
	case rs == nil:
		return nil, "no ReplicaSet runs its template yet"
	case d.Generation > st.ObservedGeneration:
		return nil, "its last change has not been rolled out yet"
	case st.UpdatedReplicas < want || st.Replicas > st.UpdatedReplicas || st.AvailableReplicas < st.UpdatedReplicas:
		return nil, fmt.Sprintf("its rollout is unfinished (%d/%d updated, %d available, %d in all)", st.UpdatedReplicas, want, st.AvailableReplicas, st.Replicas)
	case !available && want > 0:
		return nil, "it is not Available"
	case rs.Annotations[FailedAnnotation] != "":
		return nil, "erlmcp-deploy recorded it as failed (" + rs.Annotations[FailedAnnotation] + ")"
	}
	return rs, ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
