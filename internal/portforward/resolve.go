package portforward

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/org/erlmcp-deploy/internal/backoff"
	"github.com/org/erlmcp-deploy/internal/ui"
)

// Resolved is the pod and port a target forwards to.
type Resolved struct {
	Target    Target
	Namespace string
	Pod       string
	Port      int32
	// Via says how the target led to the pod, e.g. "service erlmcp port 8080
	// (http) → targetPort http → pod erlmcp-7d9-x2k port 8080".
	Via string
}

// NoReadyPodError is a target with no Ready pod behind it when the wait ended:
// the service is down, not the input wrong.
type NoReadyPodError struct {
	Target   Target
	Selector string
	Wait     time.Duration
	// Pods says, pod by pod, why none is Ready.
	Pods string
}

func (e *NoReadyPodError) Error() string {
	what := fmt.Sprintf("%s %s", e.Target.Kind, e.Target.Name)
	if e.Selector != "" {
		what += " (selector " + e.Selector + ")"
	}
	within := ""
	if e.Wait > 0 {
		within = " within " + e.Wait.String()
	}
	return fmt.Sprintf("no Ready pod behind %s%s: %s", what, within, e.Pods)
}

// ForbiddenError is a request the identity may not make; Needs names the
// permission, as rbac.yaml grants it.
type ForbiddenError struct {
	Step  string
	Needs string
	Err   error
}

func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("%s: forbidden: the identity needs %s in the namespace (see examples/kubernetes/rbac.yaml): %v", e.Step, e.Needs, e.Err)
}

func (e *ForbiddenError) Unwrap() error { return e.Err }

// Resolver finds the pod and port behind a target.
type Resolver struct {
	Client    kubernetes.Interface
	Namespace string
	// Wait is how long to wait for a Ready pod (0: look once).
	Wait time.Duration
	// Interval is the first pause between looks (default 250ms, doubling to 2s).
	Interval time.Duration
	Log      ui.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Resolve finds a Ready pod behind t and the pod port t's port leads to. A
// Service leads to the pods its selector matches and its port's targetPort; a
// Deployment to the pods of its selector; a Pod to itself. Errors are a
// *TargetError (no such object or port), a *NoReadyPodError (nothing Ready
// within Wait), a *ForbiddenError, or the API server's failure, each naming
// the step.
func (r *Resolver) Resolve(ctx context.Context, t Target) (*Resolved, error) {
	if r.Log == nil {
		r.Log = ui.Discard{}
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Interval <= 0 {
		r.Interval = 250 * time.Millisecond
	}
	var (
		selector labels.Selector
		svcPort  *corev1.ServicePort
		list     metav1.ListOptions
	)
	switch t.Kind {
	case KindService:
		svc, err := r.Client.CoreV1().Services(r.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
		if err != nil {
			return nil, r.apiError(t, "get service "+t.Name, "get services", err)
		}
		sp, err := ServicePort(svc, t)
		if err != nil {
			return nil, err
		}
		svcPort = &sp
		if len(svc.Spec.Selector) == 0 {
			return nil, &TargetError{Target: t, Reason: fmt.Sprintf("service %s has no selector, so no pod to forward to (forward to pod/<name>:<port> instead)", t.Name)}
		}
		selector = labels.SelectorFromSet(svc.Spec.Selector)
	case KindDeployment:
		d, err := r.Client.AppsV1().Deployments(r.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
		if err != nil {
			return nil, r.apiError(t, "get deployment "+t.Name, "get deployments.apps", err)
		}
		if selector, err = metav1.LabelSelectorAsSelector(d.Spec.Selector); err != nil {
			return nil, fmt.Errorf("%s: selector of deployment %s: %w", t, t.Name, err)
		}
	case KindPod:
		// A list by name needs only the list permission the deploy identity already has.
		list.FieldSelector = fields.OneTermEqualSelector("metadata.name", t.Name).String()
	default:
		return nil, &TargetError{Target: t, Reason: "unknown kind " + t.Kind}
	}
	if selector != nil {
		list.LabelSelector = selector.String()
	}

	var deadline time.Time
	if r.Wait > 0 {
		deadline = r.Now().Add(r.Wait)
	}
	said := false
	for attempt := 1; ; attempt++ {
		pods, err := r.Client.CoreV1().Pods(r.Namespace).List(ctx, list)
		if err != nil {
			return nil, r.apiError(t, "list pods", "list pods", err)
		}
		if t.Kind == KindPod && len(pods.Items) == 0 {
			return nil, &TargetError{Target: t, Reason: fmt.Sprintf("pod %s not found in namespace %s", t.Name, r.Namespace)}
		}
		if pod := PickPod(pods.Items); pod != nil {
			return r.resolved(t, svcPort, pod)
		}
		state := NotReady(pods.Items, r.Now())
		left := deadline.Sub(r.Now())
		if deadline.IsZero() || left <= 0 {
			e := &NoReadyPodError{Target: t, Wait: r.Wait, Pods: state}
			if selector != nil {
				e.Selector = selector.String()
			}
			return nil, e
		}
		if !said {
			r.Log.Infof("port-forward %s: waiting up to %s for a Ready pod (%s)", t, r.Wait, state)
			said = true
		}
		if err := backoff.Sleep(ctx, min(backoff.Exponential(r.Interval, 2*time.Second, attempt), left)); err != nil {
			return nil, fmt.Errorf("port-forward %s: waiting for a Ready pod: %w", t, err)
		}
	}
}

func (r *Resolver) resolved(t Target, sp *corev1.ServicePort, pod *corev1.Pod) (*Resolved, error) {
	res := &Resolved{Target: t, Namespace: r.Namespace, Pod: pod.Name}
	var err error
	if sp != nil {
		if res.Port, err = ServiceTargetPort(*sp, pod, t); err != nil {
			return nil, err
		}
		name := ""
		if sp.Name != "" {
			name = " (" + sp.Name + ")"
		}
		target := sp.TargetPort.String()
		if sp.TargetPort.IntValue() == 0 && sp.TargetPort.StrVal == "" {
			target = fmt.Sprint(sp.Port)
		}
		res.Via = fmt.Sprintf("service %s port %d%s → targetPort %s → pod %s port %d", t.Name, sp.Port, name, target, pod.Name, res.Port)
		return res, nil
	}
	if res.Port, err = ContainerPort(pod, t); err != nil {
		return nil, err
	}
	if t.Kind == KindDeployment {
		res.Via = fmt.Sprintf("deployment %s → pod %s port %d", t.Name, pod.Name, res.Port)
	} else {
		res.Via = fmt.Sprintf("pod %s port %d", pod.Name, res.Port)
	}
	return res, nil
}

// apiError names the step of a failed request: a missing object is the
// input's fault, a refusal names the permission.
func (r *Resolver) apiError(t Target, step, needs string, err error) error {
	switch {
	case apierrors.IsNotFound(err) && t.Kind != KindPod:
		return &TargetError{Target: t, Reason: fmt.Sprintf("%s %s not found in namespace %s", t.Kind, t.Name, r.Namespace)}
	case apierrors.IsForbidden(err):
		return &ForbiddenError{Step: fmt.Sprintf("port-forward %s: %s in namespace %s", t, step, r.Namespace), Needs: "`" + needs + "`", Err: err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("port-forward %s: %s: %w", t, step, err)
	}
	return fmt.Errorf("port-forward %s: %s in namespace %s: %w", t, step, r.Namespace, err)
}
