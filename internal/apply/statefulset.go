package apply

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/org/erlmcp-deploy/internal/diagnose"
)

// unstick deletes the pods that a StatefulSet runs from a revision other
// than its update revision and that are not Ready. With the OrderedReady
// policy a StatefulSet never replaces a broken pod by itself after its
// template is reverted (kubernetes/kubernetes#67250: "you must also delete
// any Pods that StatefulSet had already attempted to run with the bad
// configuration"), so a restore would wait until its timeout.
func (e *Engine) unstick(ctx context.Context, s *set) error {
	for _, o := range s.objects {
		if o.GroupVersionKind().Group != "apps" || o.GetKind() != "StatefulSet" {
			continue
		}
		var sts *appsv1.StatefulSet
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			var err error
			sts, err = e.Client.AppsV1().StatefulSets(o.GetNamespace()).Get(ctx, o.GetName(), metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return sts.Status.ObservedGeneration >= sts.Generation && sts.Status.UpdateRevision != "", nil
		})
		if err != nil {
			return fmt.Errorf("statefulset %s: wait for the restored template to be observed: %w", o.GetName(), err)
		}
		sel, err := metav1.LabelSelectorAsSelector(sts.Spec.Selector)
		if err != nil {
			return fmt.Errorf("statefulset %s selector: %w", o.GetName(), err)
		}
		pods, err := e.Client.CoreV1().Pods(sts.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return fmt.Errorf("list the pods of statefulset %s: %w", o.GetName(), err)
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Labels[appsv1.ControllerRevisionHashLabelKey] == sts.Status.UpdateRevision || diagnose.PodReady(p) || p.DeletionTimestamp != nil {
				continue
			}
			if err := e.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete pod %s of the failed revision: %w", p.Name, err)
			}
			e.Log.Infof("deleted pod %s (failed revision, not Ready): a StatefulSet does not replace a broken pod by itself once its template is reverted", p.Name)
		}
	}
	return nil
}
