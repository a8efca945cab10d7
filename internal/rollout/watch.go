package rollout

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/org/erlmcp-deploy/internal/history"
	"github.com/org/erlmcp-deploy/internal/ui"
)

// Watch is one wait for a rollout to reach a verdict.
type Watch struct {
	Client    kubernetes.Interface
	Namespace string
	Name      string
	// Selector is the Deployment's pod selector (ReplicaSets and pods are watched with it).
	Selector labels.Selector
	// MinGeneration is the Deployment generation our change produced.
	MinGeneration int64
	Deadline      time.Time
	Options       Options
	// OnChange is called whenever the verdict's progress or message changes.
	OnChange func(Verdict)
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Result is the final verdict and the objects it was reached on.
type Result struct {
	Verdict       Verdict
	Deployment    *appsv1.Deployment
	NewReplicaSet *appsv1.ReplicaSet
	Pods          []*corev1.Pod
	Elapsed       time.Duration
}

// Run watches (list+watch through informers, which relist when a watch
// expires) until the rollout succeeds or fails, or ctx ends. Every change of
// the Deployment, its ReplicaSets or their pods re-evaluates the verdict at
// once; a 1 s tick covers the time-based rules (deadline, unschedulable grace).
func (w *Watch) Run(ctx context.Context) (Result, error) {
	now := w.Now
	if now == nil {
		now = time.Now
	}
	start := now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	}
	ns := w.Namespace
	byName := func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", w.Name).String()
	}
	bySelector := func(o *metav1.ListOptions) { o.LabelSelector = w.Selector.String() }
	apps, core := w.Client.AppsV1(), w.Client.CoreV1()
	health := &apiHealth{now: now}
	dInf := informer(health, w.Deadline, &appsv1.Deployment{}, byName,
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return apps.Deployments(ns).List(ctx, o)
		},
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return apps.Deployments(ns).Watch(ctx, o)
		})
	rsInf := informer(health, w.Deadline, &appsv1.ReplicaSet{}, bySelector,
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return apps.ReplicaSets(ns).List(ctx, o)
		},
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return apps.ReplicaSets(ns).Watch(ctx, o)
		})
	podInf := informer(health, w.Deadline, &corev1.Pod{}, bySelector,
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return core.Pods(ns).List(ctx, o)
		},
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return core.Pods(ns).Watch(ctx, o)
		})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // runs before wg.Wait: the informers stop first
	for _, inf := range []cache.SharedIndexInformer{dInf, rsInf, podInf} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return Result{}, fmt.Errorf("watch deployment %s: %w", w.Name, err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); inf.RunWithContext(ctx) }()
	}
	syncCtx, stopSync := ctx, context.CancelFunc(func() {})
	if !w.Deadline.IsZero() {
		syncCtx, stopSync = context.WithDeadline(ctx, w.Deadline)
	}
	synced := cache.WaitForCacheSync(syncCtx.Done(), dInf.HasSynced, rsInf.HasSynced, podInf.HasSynced)
	stopSync()
	switch {
	case !synced && ctx.Err() != nil:
		return Result{}, fmt.Errorf("watch deployment %s: %w", w.Name, context.Cause(ctx))
	case !synced:
		msg := "the API server did not answer"
		if f := health.get(); f.Err != nil {
			msg = fmt.Sprintf("the API server kept failing (%v)", f.Err)
		}
		v := Verdict{Phase: Failed, Reason: ReasonAPIUnavailable, Message: "could not read the rollout's state before the deadline: " + msg}
		return Result{Verdict: v, Elapsed: now().Sub(start)}, nil
	}
	dl := appslisters.NewDeploymentLister(dInf.GetIndexer())
	rl := appslisters.NewReplicaSetLister(rsInf.GetIndexer())
	pl := corelisters.NewPodLister(podInf.GetIndexer())

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last Verdict
	for {
		res := w.snapshot(dl, rl, pl, now())
		res.Elapsed = now().Sub(start)
		res.Verdict = WithAPIHealth(res.Verdict, health.get())
		v := res.Verdict
		if v.Message != last.Message || v.Progress != last.Progress || v.Phase != last.Phase {
			if w.OnChange != nil {
				w.OnChange(v)
			}
			last = v
		}
		if v.Phase != Progressing {
			return res, nil
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("stopped waiting for deployment %s (%s): %w", w.Name, v.Progress, context.Cause(ctx))
		case <-changed:
		case <-tick.C:
		}
	}
}

// apiHealth records whether the informers' list and watch calls fail.
type apiHealth struct {
	mu  sync.Mutex
	now func() time.Time
	f   APIFailing
}

// record notes the outcome of one call made with ctx.
func (h *apiHealth) record(ctx context.Context, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case err == nil:
		h.f = APIFailing{}
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		// our own stop or deadline, not the API server's failure
	case h.f.Since.IsZero():
		h.f = APIFailing{Since: h.now(), Err: err}
	}
}

func (h *apiHealth) get() APIFailing {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.f
}

// informer list-watches one kind in the namespace, with tweak applied to
// every request and the outcome of each call recorded in health.
func informer(health *apiHealth, deadline time.Time, obj runtime.Object, tweak func(*metav1.ListOptions),
	list func(context.Context, metav1.ListOptions) (runtime.Object, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error)) cache.SharedIndexInformer {
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			tweak(&o)
			ctx, cancel := withDeadline(ctx, deadline)
			defer cancel()
			out, err := list(ctx, o)
			health.record(ctx, err)
			return out, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			tweak(&o)
			// The stream lives until the deadline at most (the wait ends there);
			// retries of a failing API server stop before it, so it is reported.
			ctx, cancel := withDeadline(ctx, deadline)
			out, err := watchFn(ctx, o)
			health.record(ctx, err)
			if err != nil {
				cancel()
				return nil, err
			}
			return &cancelOnStop{Interface: out, cancel: cancel}, nil
		},
	}
	return cache.NewSharedIndexInformer(lw, obj, 0, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
}

func withDeadline(ctx context.Context, deadline time.Time) (context.Context, context.CancelFunc) {
	if deadline.IsZero() {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, deadline)
}

// cancelOnStop releases a watch's context when the watch is stopped.
type cancelOnStop struct {
	watch.Interface
	cancel context.CancelFunc
}

func (w *cancelOnStop) Stop() { w.Interface.Stop(); w.cancel() }

// snapshot evaluates the verdict on the informers' caches.
func (w *Watch) snapshot(dl appslisters.DeploymentLister, rl appslisters.ReplicaSetLister, pl corelisters.PodLister, now time.Time) Result {
	s := Snapshot{MinGeneration: w.MinGeneration, Now: now, Deadline: w.Deadline}
	d, err := dl.Deployments(w.Namespace).Get(w.Name)
	if err == nil {
		s.Deployment = d
		rss, _ := rl.ReplicaSets(w.Namespace).List(w.Selector)
		s.NewReplicaSet = history.NewReplicaSet(d, rss)
		if s.NewReplicaSet != nil {
			pods, _ := pl.Pods(w.Namespace).List(w.Selector)
			s.Pods = OwnedPods(s.NewReplicaSet, pods)
		}
	}
	return Result{Verdict: Evaluate(s, w.Options), Deployment: s.Deployment, NewReplicaSet: s.NewReplicaSet, Pods: s.Pods}
}

// OwnedPods returns the pods controlled by rs.
func OwnedPods(rs *appsv1.ReplicaSet, pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == rs.UID {
			out = append(out, p)
		}
	}
	return out
}

// Wait watches the rollout that d (as returned by the change that started
// it) describes, until a verdict or deadline. onChange sees every new
// progressing verdict (for progress lines).
func Wait(ctx context.Context, client kubernetes.Interface, d *appsv1.Deployment, deadline time.Time, opts Options, onChange func(Verdict), now func() time.Time) (Result, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return Result{}, fmt.Errorf("deployment %s selector: %w", d.Name, err)
	}
	w := &Watch{Client: client, Namespace: d.Namespace, Name: d.Name, Selector: sel, MinGeneration: d.Generation,
		Deadline: deadline, Options: opts, Now: now,
		OnChange: func(v Verdict) {
			if v.Phase == Progressing && onChange != nil {
				onChange(v)
			}
		}}
	return w.Run(ctx)
}

// State describes what a Deployment runs now, in one line (Describe), for
// a run that stops half-way: it reads with a short context of its own, so it
// works when ctx is already cancelled.
func State(ctx context.Context, client kubernetes.Interface, namespace, name string) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	d, err := client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Sprintf("the deployment's state could not be read: %v", err)
	}
	return Describe(d)
}

// LogProgress prints a progress line for each new verdict while waiting.
func LogProgress(log ui.Logger) func(Verdict) {
	return func(v Verdict) {
		if v.Progress == (Progress{}) {
			log.Infof("%s", v.Message)
			return
		}
		log.Infof("%s — %s", v.Progress, v.Message)
	}
}
