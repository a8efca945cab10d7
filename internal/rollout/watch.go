package rollout

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/org/erlmcp-deploy/internal/bootcause"
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
	// Template is the pod template our change set: another writer's is a failure.
	Template *corev1.PodTemplateSpec
	// Since is the API server's time of our change (zero: no change was
	// made): only pods created before it are in the baseline, so a new pod
	// that crashed before the watch started still counts.
	Since    time.Time
	Deadline time.Time
	Options  Options
	// OnChange is called whenever the verdict's progress or message changes.
	OnChange func(Verdict)
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// ReadCrash, when set, reads the log of a crashed container instance
	// (previous: it was restarted); what it names lets a permanent cause fail
	// the rollout at the first crash (see bootcause). Nil: crashes are judged
	// by restart count alone.
	ReadCrash func(ctx context.Context, pod *corev1.Pod, container string, previous bool) ([]byte, error)
}

// Result is the final verdict and the objects it was reached on.
type Result struct {
	Verdict       Verdict
	Deployment    *appsv1.Deployment
	NewReplicaSet *appsv1.ReplicaSet
	Pods          []*corev1.Pod
	Elapsed       time.Duration
	// Memory is what the watch saw (baseline, first-seen faults), for a re-read.
	Memory *Memory
}

// FieldManager is the field manager of every change erlmcp-deploy makes.
const FieldManager = "erlmcp-deploy"

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
	// Every pod event is seen, even when the loop below sees only the last
	// of several: an ErrImagePull's cause is gone once ImagePullBackOff follows.
	var memMu sync.Mutex
	mem := &Memory{}
	podHandler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { recordPull(&memMu, mem, o); notify() },
		UpdateFunc: func(_, o any) { recordPull(&memMu, mem, o); notify() },
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
		h := handler
		if inf == podInf {
			h = podHandler
		}
		if _, err := inf.AddEventHandler(h); err != nil {
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
	if pods, err := pl.Pods(ns).List(w.Selector); err == nil {
		memMu.Lock()
		mem.Baseline(now(), CreatedBefore(pods, w.Since))
		memMu.Unlock()
	}
	scale := &scaleUps{client: core, namespace: ns, asked: map[types.UID]time.Time{}}

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last Verdict
	reading := map[string]bool{}
	for {
		memMu.Lock()
		res := w.snapshot(dl, rl, pl, mem, scale, now())
		crashes := mem.Crashes(res.Pods)
		memMu.Unlock()
		for _, c := range crashes {
			if w.ReadCrash == nil || !w.Options.FailFast || reading[c.Key] {
				continue
			}
			reading[c.Key] = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				cause := w.readCause(ctx, c)
				memMu.Lock()
				mem.SawBoot(c.Key, cause)
				memMu.Unlock()
				notify()
			}()
		}
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

// readCause reads and classifies one crashed instance's log; a log that
// cannot be read names nothing (the restart tolerance decides).
func (w *Watch) readCause(ctx context.Context, c Crashed) bootcause.Cause {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for try := 0; ; try++ {
		log, err := w.ReadCrash(ctx, c.Pod, c.Container, c.Previous)
		if err == nil {
			return bootcause.Classify(log)
		}
		if apierrors.IsForbidden(err) || try == 2 {
			return bootcause.Cause{}
		}
		select { // a log the kubelet has not rotated in yet may answer a moment later
		case <-ctx.Done():
			return bootcause.Cause{}
		case <-time.After(500 * time.Millisecond):
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
func (w *Watch) snapshot(dl appslisters.DeploymentLister, rl appslisters.ReplicaSetLister, pl corelisters.PodLister, mem *Memory, scale *scaleUps, now time.Time) Result {
	d, err := dl.Deployments(w.Namespace).Get(w.Name)
	if err != nil {
		d = nil
	}
	rss, _ := rl.ReplicaSets(w.Namespace).List(w.Selector)
	pods, _ := pl.Pods(w.Namespace).List(w.Selector)
	return w.judge(d, rss, pods, mem, scale, now, w.Deadline)
}

// judge observes one view of the rollout into mem and evaluates it.
func (w *Watch) judge(d *appsv1.Deployment, rss []*appsv1.ReplicaSet, pods []*corev1.Pod, mem *Memory, scale *scaleUps, now, deadline time.Time) Result {
	s := Snapshot{MinGeneration: w.MinGeneration, Template: w.Template, FieldManager: FieldManager, Memory: mem, Now: now, Deadline: deadline}
	if d != nil {
		s.Deployment = d
		s.NewReplicaSet = history.NewReplicaSet(d, rss)
		if s.NewReplicaSet != nil {
			s.Pods, s.OldPods = SplitPods(d, s.NewReplicaSet, rss, pods)
		}
	}
	mem.Observe(now, s.NewReplicaSet, s.Pods, s.OldPods)
	if scale != nil && w.Options.FailFast {
		scale.check(mem, s.Pods, now)
	}
	return Result{Verdict: Evaluate(s, w.Options), Deployment: s.Deployment, NewReplicaSet: s.NewReplicaSet, Pods: s.Pods, Memory: mem}
}

// Reread judges the rollout once more from fresh reads, without a
// deadline, with what an earlier watch saw (its Memory): for a verdict of
// "unknown" reached while the API server was failing. A timeout for the
// reads is the caller's ctx.
func (w *Watch) Reread(ctx context.Context, mem *Memory, now time.Time) (Result, error) {
	if mem == nil {
		mem = &Memory{}
	}
	apps, core := w.Client.AppsV1(), w.Client.CoreV1()
	d, err := apps.Deployments(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
	if err != nil {
		return Result{}, fmt.Errorf("read deployment %s: %w", w.Name, err)
	}
	sel := metav1.ListOptions{LabelSelector: w.Selector.String()}
	rsList, err := apps.ReplicaSets(w.Namespace).List(ctx, sel)
	if err != nil {
		return Result{}, fmt.Errorf("list replicasets of %s: %w", w.Name, err)
	}
	podList, err := core.Pods(w.Namespace).List(ctx, sel)
	if err != nil {
		return Result{}, fmt.Errorf("list pods of %s: %w", w.Name, err)
	}
	rss := make([]*appsv1.ReplicaSet, len(rsList.Items))
	for i := range rsList.Items {
		rss[i] = &rsList.Items[i]
	}
	pods := make([]*corev1.Pod, len(podList.Items))
	for i := range podList.Items {
		pods[i] = &podList.Items[i]
	}
	return w.judge(d, rss, pods, mem, nil, now, time.Time{}), nil
}

// recordPull notes the cause of a failed image pull from one pod event.
func recordPull(mu *sync.Mutex, mem *Memory, o any) {
	p, ok := o.(*corev1.Pod)
	if !ok {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	mem.RecordPull(p)
}

// scaleUps asks, at most every 2 s per pod, for the events of new pods that
// are unschedulable: an autoscaler says there whether a node is coming.
type scaleUps struct {
	client    corev1client.CoreV1Interface
	namespace string
	asked     map[types.UID]time.Time
	forbidden bool
}

func (s *scaleUps) check(mem *Memory, pods []*corev1.Pod, now time.Time) {
	for _, p := range pods {
		if s.forbidden || mem.ScaleUp[p.UID] != "" || unschedulable(p) == nil || now.Sub(s.asked[p.UID]) < 2*time.Second {
			continue
		}
		s.asked[p.UID] = now
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		evs, err := s.client.Events(s.namespace).List(ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("involvedObject.uid", string(p.UID)).String()})
		cancel()
		if apierrors.IsForbidden(err) {
			s.forbidden = true // without list events, only nominatedNodeName shows a scale-up
		}
		if err != nil {
			continue
		}
		for _, e := range evs.Items {
			mem.SawScaleUp(p.UID, e.Reason, e.Message)
		}
	}
}

// SplitPods splits the pods d's selector matches into those of its new
// ReplicaSet and those of its other ReplicaSets; pods of other workloads
// that d's selector also matches (a canary's, a baseline's, a green's) are
// in neither. A pure function.
func SplitPods(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, rss []*appsv1.ReplicaSet, pods []*corev1.Pod) (own, old []*corev1.Pod) {
	ours := map[types.UID]bool{}
	for _, rs := range rss {
		if ref := metav1.GetControllerOf(rs); ref != nil && ref.UID == d.UID {
			ours[rs.UID] = true
		}
	}
	for _, p := range pods {
		ref := metav1.GetControllerOf(p)
		switch {
		case ref == nil:
		case ref.UID == newRS.UID:
			own = append(own, p)
		case ours[ref.UID]:
			old = append(old, p)
		}
	}
	return own, old
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

// CreatedBefore keeps the pods created before t (all of them when t is zero).
func CreatedBefore(pods []*corev1.Pod, t time.Time) []*corev1.Pod {
	if t.IsZero() {
		return pods
	}
	var out []*corev1.Pod
	for _, p := range pods {
		if p.CreationTimestamp.Time.Before(t) {
			out = append(out, p)
		}
	}
	return out
}

// ChangeTime is the API server's time of the change that d (as returned by
// that change) carries, read from our managedFields entry; zero when d is
// not a fresh change (the controller already observed its generation).
func ChangeTime(d *appsv1.Deployment) time.Time {
	if d.Status.ObservedGeneration >= d.Generation {
		return time.Time{}
	}
	var t time.Time
	for _, e := range d.ManagedFields {
		if e.Manager == FieldManager && e.Subresource == "" && e.Time != nil && e.Time.After(t) {
			t = e.Time.Time
		}
	}
	return t
}

// NewWatch is the watch of the rollout that d (as returned by the change
// that started it) describes: our generation and our template. onChange sees
// every new progressing verdict (for progress lines).
func NewWatch(client kubernetes.Interface, d *appsv1.Deployment, deadline time.Time, opts Options, onChange func(Verdict), now func() time.Time) (*Watch, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s selector: %w", d.Name, err)
	}
	return &Watch{Client: client, Namespace: d.Namespace, Name: d.Name, Selector: sel, MinGeneration: d.Generation,
		Template: d.Spec.Template.DeepCopy(), Since: ChangeTime(d), Deadline: deadline, Options: opts, Now: now,
		OnChange: func(v Verdict) {
			if v.Phase == Progressing && onChange != nil {
				onChange(v)
			}
		}}, nil
}

// Wait watches the rollout that d describes until a verdict or deadline (NewWatch, Run).
func Wait(ctx context.Context, client kubernetes.Interface, d *appsv1.Deployment, deadline time.Time, opts Options, onChange func(Verdict), now func() time.Time) (Result, error) {
	w, err := NewWatch(client, d, deadline, opts, onChange, now)
	if err != nil {
		return Result{}, err
	}
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
