package progressive

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Settled is what Settle found and did.
type Settled struct {
	// Found is the state an earlier run left (nil: none, or only workloads without it).
	Found *State
	// Actions are what Settle did, in order ("" items never).
	Actions []string
	// SwitchedBack: a blue-green had switched the live Service to its green
	// pods, and the Service selects the old pods again.
	SwitchedBack bool
}

// Did reports whether Settle changed anything.
func (s Settled) Did() bool { return len(s.Actions) > 0 }

// String says what an earlier run left and what Settle did.
func (s Settled) String() string {
	if !s.Did() {
		return "no unfinished canary or blue-green"
	}
	what := "left-over canary/blue-green workloads"
	if st := s.Found; st != nil {
		what = fmt.Sprintf("the unfinished %s of %s started by %s at %s", st.Strategy, st.Image, st.Run, st.Started.UTC().Format(time.RFC3339))
		switch {
		case st.Strategy == StrategyCanary:
			what += fmt.Sprintf(" (step %d, %d%%)", st.Step, st.Percent)
		case st.Switched:
			what += " (after the switch)"
		default:
			what += " (before the switch)"
		}
	}
	return "undid " + what + ": " + strings.Join(s.Actions, "; ")
}

// SettleError is a Settle that could not finish: the state stays recorded
// on the Deployment, and the error says what to run.
type SettleError struct {
	Deployment string
	Found      *State
	Done       []string
	Err        error
}

// Error names what is left and what to run.
func (e *SettleError) Error() string {
	what := "left-over canary/blue-green workloads"
	if e.Found != nil {
		what = "the unfinished " + e.Found.Strategy + " of " + e.Found.Image
	}
	done := ""
	if len(e.Done) > 0 {
		done = " after it " + strings.Join(e.Done, "; ")
	}
	return fmt.Sprintf("could not undo %s on deployment %s%s: %v; nothing else was changed, and its state is left on the deployment (annotation %s): fix the cause, then run deploy again or the rollback action with to: cleanup",
		what, e.Deployment, done, e.Err, StateAnnotation)
}

// Unwrap is the cause.
func (e *SettleError) Unwrap() error { return e.Err }

// Settle undoes what an unfinished canary or blue-green of deployment left,
// so the Deployment alone serves through its Service: a blue-green's live
// Service goes back to the old pods (no pod is started), its green
// Deployment and preview Service are removed (and their pods gone) before
// the Service is unpinned; a canary's workloads are removed, then what it
// created; finally the state record. Workloads or a pinned Service left
// without a record (by a run that overwrote it) are found by their labels.
// The caller holds the deploy lock. An error is a *SettleError; what was
// not undone stays recorded.
func Settle(ctx context.Context, client kubernetes.Interface, namespace, deployment string) (Settled, error) {
	var out Settled
	deps := client.AppsV1().Deployments(namespace)
	d, err := deps.Get(ctx, deployment, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return out, nil // nothing serves yet: nothing can be left
	}
	if err != nil {
		return out, &SettleError{Deployment: deployment, Err: fmt.Errorf("read deployment %s: %w", deployment, err)}
	}
	st, err := Read(d)
	if err != nil {
		return out, &SettleError{Deployment: deployment, Err: err}
	}
	out.Found = st
	fail := func(err error) (Settled, error) {
		return out, &SettleError{Deployment: deployment, Found: st, Done: out.Actions, Err: err}
	}
	list, err := deps.List(ctx, metav1.ListOptions{LabelSelector: OfLabel + "=" + deployment})
	if err != nil {
		return fail(fmt.Errorf("list the workloads of %s: %w", deployment, err))
	}
	var workloads []appsv1.Deployment
	for _, w := range list.Items {
		if w.Labels[TrackLabel] != "" {
			workloads = append(workloads, w)
		}
	}
	if st == nil && len(workloads) == 0 {
		return out, nil
	}
	pinned, err := pinnedServices(ctx, client, d, st)
	if err != nil {
		return fail(err)
	}

	// The live Service first goes back to the pods it served before (a
	// recorded blue), so that removing green never leaves it on nothing.
	for svc, hash := range pinned {
		blue, err := blueOf(ctx, client, st, d, svc, hash)
		if err != nil {
			return fail(err)
		}
		if blue != "" && blue != hash {
			if err := SelectHash(ctx, client, namespace, svc, blue); err != nil {
				return fail(err)
			}
			out.Actions = append(out.Actions, fmt.Sprintf("service %s switched back to the old pods (%s=%s)", svc, HashLabel, blue))
			out.SwitchedBack = true
			pinned[svc] = blue
		} else if blue == "" {
			// Pinned to pods we cannot name as the old ones: select the
			// Deployment's own pods as well before anything is removed.
			if err := Unpin(ctx, client, namespace, svc); err != nil {
				return fail(err)
			}
			out.Actions = append(out.Actions, "service "+svc+" selects the pods of deployment "+deployment+" again")
			delete(pinned, svc)
		}
	}
	for _, w := range workloads {
		// Only a Service still to be unpinned needs the pods gone first;
		// a canary's terminating pods already left every Service's endpoints.
		if err := RemoveWorkload(ctx, client, &w, len(pinned) > 0); err != nil {
			return fail(err)
		}
		out.Actions = append(out.Actions, fmt.Sprintf("deployment %s removed", w.Name))
	}
	for svc := range pinned {
		if err := Unpin(ctx, client, namespace, svc); err != nil {
			return fail(err)
		}
		out.Actions = append(out.Actions, "service "+svc+" selects the pods of deployment "+deployment+" again")
	}
	if st != nil && st.Service != "" {
		if err := client.CoreV1().Services(namespace).Delete(ctx, st.Service+"-preview", metav1.DeleteOptions{}); err == nil {
			out.Actions = append(out.Actions, "service "+st.Service+"-preview removed")
		} else if !apierrors.IsNotFound(err) {
			return fail(fmt.Errorf("delete service %s-preview: %w", st.Service, err))
		}
	}
	if st != nil {
		for _, r := range st.Created {
			if err := deleteRef(ctx, client, namespace, r); err != nil {
				return fail(err)
			}
			out.Actions = append(out.Actions, fmt.Sprintf("%s %s (created for the canary's pods) removed", r.Kind, r.Name))
		}
	}
	if _, ok := d.Annotations[StateAnnotation]; ok {
		if err := Write(ctx, client, namespace, deployment, nil); err != nil {
			return fail(err)
		}
		if len(out.Actions) == 0 {
			out.Actions = append(out.Actions, "its state record removed (nothing else was left)")
		}
	}
	return out, nil
}

// blueOf is the pod-template-hash the live Service svc served before a
// blue-green: the recorded one, else the pinned hash when it is one of d's
// own ReplicaSets' ("" when the Service is pinned to pods that are not d's).
func blueOf(ctx context.Context, client kubernetes.Interface, st *State, d *appsv1.Deployment, svc, pinned string) (string, error) {
	if st != nil && st.Strategy == StrategyBlueGreen && st.Service == svc && st.Blue != "" {
		return st.Blue, nil
	}
	rss, err := client.AppsV1().ReplicaSets(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: HashLabel + "=" + pinned})
	if err != nil {
		return "", fmt.Errorf("list the replica sets of deployment %s: %w", d.Name, err)
	}
	for _, rs := range rss.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.UID == d.UID {
			return pinned, nil
		}
	}
	return "", nil
}

// pinnedServices are the Services pinned to a pod-template-hash that
// otherwise select d's pods — the recorded live Service of a blue-green, and
// any other left pinned without a record — by name, with their pinned hash.
func pinnedServices(ctx context.Context, client kubernetes.Interface, d *appsv1.Deployment, st *State) (map[string]string, error) {
	var items []corev1.Service
	svcs, err := client.CoreV1().Services(d.Namespace).List(ctx, metav1.ListOptions{})
	switch {
	case err == nil:
		items = svcs.Items
	case apierrors.IsForbidden(err) && (st == nil || st.Service == ""):
		return map[string]string{}, nil // without list: only a recorded Service can be found
	case apierrors.IsForbidden(err):
		svc, err := client.CoreV1().Services(d.Namespace).Get(ctx, st.Service, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return map[string]string{}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read service %s: %w", st.Service, err)
		}
		items = []corev1.Service{*svc}
	default:
		return nil, fmt.Errorf("list the services of namespace %s: %w", d.Namespace, err)
	}
	out := map[string]string{}
	for _, s := range items {
		hash, pinned := s.Spec.Selector[HashLabel]
		if !pinned || strings.HasSuffix(s.Name, "-preview") && s.Labels[OfLabel] != "" {
			continue
		}
		if (st != nil && st.Service == s.Name) || selectsTemplate(s.Spec.Selector, d.Spec.Template.Labels) {
			out[s.Name] = hash
		}
	}
	return out, nil
}

// selectsTemplate reports whether selector (the pod-template-hash aside)
// selects pods with labels.
func selectsTemplate(selector, labels map[string]string) bool {
	n := 0
	for k, v := range selector {
		if k == HashLabel {
			continue
		}
		if labels[k] != v {
			return false
		}
		n++
	}
	return n > 0
}

// SelectHash pins Service svc to the pods of one pod-template-hash.
func SelectHash(ctx context.Context, client kubernetes.Interface, namespace, svc, hash string) error {
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"selector": map[string]any{HashLabel: hash}}})
	if _, err := client.CoreV1().Services(namespace).Patch(ctx, svc, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager}); err != nil {
		return fmt.Errorf("switch service %s to %s=%s: %w", svc, HashLabel, hash, err)
	}
	return nil
}

// Unpin removes the pod-template-hash from Service svc's selector.
func Unpin(ctx context.Context, client kubernetes.Interface, namespace, svc string) error {
	patch := []byte(`{"spec":{"selector":{"` + HashLabel + `":null}}}`)
	if _, err := client.CoreV1().Services(namespace).Patch(ctx, svc, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("restore the selector of service %s: %w", svc, err)
	}
	return nil
}

// GoneTimeout bounds the wait for a removed workload's pods to terminate.
const GoneTimeout = 2 * time.Minute

// RemoveWorkload deletes a canary, baseline or green Deployment; with wait,
// in the foreground, and it returns once the Deployment and every pod of it
// that is not terminating are gone, so a Service unpinned afterwards cannot
// select one of them (the garbage collector deletes pods after their
// Deployment).
func RemoveWorkload(ctx context.Context, client kubernetes.Interface, w *appsv1.Deployment, wait bool) error {
	policy := metav1.DeletePropagationBackground
	if wait {
		policy = metav1.DeletePropagationForeground
	}
	if err := client.AppsV1().Deployments(w.Namespace).Delete(ctx, w.Name, metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete deployment %s: %w", w.Name, err)
	}
	if !wait {
		return nil
	}
	sel, err := metav1.LabelSelectorAsSelector(w.Spec.Selector)
	if err != nil {
		return fmt.Errorf("deployment %s selector: %w", w.Name, err)
	}
	wctx, cancel := context.WithTimeout(ctx, GoneTimeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		_, gerr := client.AppsV1().Deployments(w.Namespace).Get(wctx, w.Name, metav1.GetOptions{})
		pods, err := client.CoreV1().Pods(w.Namespace).List(wctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err == nil && apierrors.IsNotFound(gerr) {
			left := 0
			for _, p := range pods.Items {
				if p.DeletionTimestamp == nil {
					left++
				}
			}
			if left == 0 {
				return nil
			}
		}
		select {
		case <-wctx.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("deployment %s or its pods still there %s after it was deleted", w.Name, GoneTimeout)
		case <-tick.C:
		}
	}
}

// deleteRef deletes an object a release canary created for its pods.
func deleteRef(ctx context.Context, client kubernetes.Interface, namespace string, r Ref) error {
	var err error
	core := client.CoreV1()
	switch r.Kind {
	case "ConfigMap":
		err = core.ConfigMaps(namespace).Delete(ctx, r.Name, metav1.DeleteOptions{})
	case "Secret":
		err = core.Secrets(namespace).Delete(ctx, r.Name, metav1.DeleteOptions{})
	case "ServiceAccount":
		err = core.ServiceAccounts(namespace).Delete(ctx, r.Name, metav1.DeleteOptions{})
	case "PersistentVolumeClaim":
		err = core.PersistentVolumeClaims(namespace).Delete(ctx, r.Name, metav1.DeleteOptions{})
	default:
		return fmt.Errorf("%s %s: not a kind a canary creates", r.Kind, r.Name)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %s %s: %w", r.Kind, r.Name, err)
	}
	return nil
}

// Left reports whether an unfinished canary or blue-green of deployment
// left anything for Settle: a state record, or workloads labelled as its.
func Left(ctx context.Context, client kubernetes.Interface, namespace, deployment string) (bool, error) {
	d, err := client.AppsV1().Deployments(namespace).Get(ctx, deployment, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read deployment %s: %w", deployment, err)
	}
	if _, ok := d.Annotations[StateAnnotation]; ok {
		return true, nil
	}
	list, err := client.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{LabelSelector: OfLabel + "=" + deployment + "," + TrackLabel})
	if err != nil {
		return false, fmt.Errorf("list the workloads of %s: %w", deployment, err)
	}
	return len(list.Items) > 0, nil
}
