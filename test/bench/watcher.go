package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// watcher is the independent observer of one release: its own watches
// (informers) of the namespace's Deployment and pods, timestamped on arrival
// on the bench's clock. It shares no code with erlmcp-deploy's verdict: it
// only reads the API objects.
type watcher struct {
	ns, prev, next string

	mu       sync.Mutex
	patched  time.Time // the Deployment's template first carries next
	back     time.Time // after the patch: prev serving again
	complete time.Time // after the patch: next serving complete
	crashed  time.Time // a container of a pod of next first shows a crash (a restart or a non-zero exit)

	stop      chan struct{}
	stopOnce  sync.Once
	deploys   cache.Store
	pods      cache.Store
	changed   chan struct{}
	deployKey string
	logf      func(format string, args ...any) // the run's transcript
	lastPod   map[string]string
}

func watch(ctx context.Context, client kubernetes.Interface, ns, prev, next string, logf func(string, ...any)) (*watcher, error) {
	w := &watcher{ns: ns, prev: prev, next: next, stop: make(chan struct{}), changed: make(chan struct{}, 1), deployKey: ns + "/erlmcp",
		logf: logf, lastPod: map[string]string{}}
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
	di := f.Apps().V1().Deployments().Informer()
	pi := f.Core().V1().Pods().Informer()
	w.deploys, w.pods = di.GetStore(), pi.GetStore()
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { w.observe(time.Now()) },
		UpdateFunc: func(any, any) { w.observe(time.Now()) },
		DeleteFunc: func(any) { w.observe(time.Now()) },
	}
	if _, err := di.AddEventHandler(h); err != nil {
		return nil, err
	}
	if _, err := pi.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { w.noteCrash(time.Now(), o); w.notePod(o); w.observe(time.Now()) },
		UpdateFunc: func(_, o any) { w.noteCrash(time.Now(), o); w.notePod(o); w.observe(time.Now()) },
		DeleteFunc: func(any) { w.observe(time.Now()) },
	}); err != nil {
		return nil, err
	}
	f.Start(w.stop)
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for typ, ok := range f.WaitForCacheSync(sctx.Done()) {
		if !ok {
			w.Stop()
			return nil, fmt.Errorf("watch %s in %s: cache never synced", typ, ns)
		}
	}
	return w, nil
}

func (w *watcher) Stop() { w.stopOnce.Do(func() { close(w.stop) }) }

// notePod writes to the transcript what the simulated kubelet shows for a
// pod of the new image, when it changes: evidence for a verdict.
func (w *watcher) notePod(o any) {
	p, ok := o.(*corev1.Pod)
	if !ok || w.logf == nil || w.next == w.prev || len(p.Spec.Containers) == 0 || p.Spec.Containers[0].Image != w.next {
		return
	}
	desc := string(p.Status.Phase)
	for _, cs := range p.Status.ContainerStatuses {
		desc += fmt.Sprintf(" ready=%v restarts=%d", cs.Ready, cs.RestartCount)
		if st := cs.State.Waiting; st != nil {
			desc += " waiting " + st.Reason
		}
		if t := cs.LastTerminationState.Terminated; t != nil {
			desc += fmt.Sprintf(" last %s(%d)", t.Reason, t.ExitCode)
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status != corev1.ConditionTrue {
			desc += " " + c.Reason
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lastPod[p.Name] == desc {
		return
	}
	w.lastPod[p.Name] = desc
	w.logf("watcher: pod %s (created %s): %s", p.Name, p.CreationTimestamp.UTC().Format("15:04:05"), desc)
}

// noteCrash records when a pod of the new image first shows a crash: a
// container restarted, or terminated with a non-zero exit.
func (w *watcher) noteCrash(now time.Time, o any) {
	p, ok := o.(*corev1.Pod)
	if !ok || w.next == w.prev || len(p.Spec.Containers) == 0 || p.Spec.Containers[0].Image != w.next {
		return
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.RestartCount > 0 || cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0 {
			w.mu.Lock()
			if w.crashed.IsZero() {
				w.crashed = now
			}
			w.mu.Unlock()
			return
		}
	}
}

// firstCrash is when the watcher first saw a pod of the new image crash (zero: never).
func (w *watcher) firstCrash() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.crashed
}

// observe re-evaluates on every event of either watch.
func (w *watcher) observe(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	obj, ok, _ := w.deploys.GetByKey(w.deployKey)
	if !ok {
		return
	}
	d := obj.(*appsv1.Deployment)
	if w.patched.IsZero() && w.next != w.prev && image(d) == w.next {
		w.patched = now
		if w.logf != nil {
			for _, e := range d.ManagedFields {
				if e.Time != nil && e.Subresource == "" {
					w.logf("watcher: patch seen; managedFields %s %s at %s", e.Manager, e.Operation, e.Time.UTC().Format("15:04:05"))
				}
			}
		}
	}
	if w.patched.IsZero() {
		return
	}
	if w.back.IsZero() && w.serving(d, w.prev) {
		w.back = now
	}
	if w.complete.IsZero() && w.serving(d, w.next) {
		w.complete = now
	}
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// serving: the template carries img, the controller has seen the current
// generation, updated == available == desired, and as many Ready pods of
// img (not being deleted) as desired.
func (w *watcher) serving(d *appsv1.Deployment, img string) bool {
	desired := int32(1)
	if d.Spec.Replicas != nil {
		desired = *d.Spec.Replicas
	}
	st := d.Status
	if image(d) != img || st.ObservedGeneration < d.Generation || st.UpdatedReplicas != desired || st.AvailableReplicas != desired {
		return false
	}
	ready := int32(0)
	for _, o := range w.pods.List() {
		p := o.(*corev1.Pod)
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || len(p.Spec.Containers) == 0 || p.Spec.Containers[0].Image != img {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	return ready >= desired
}

func image(d *appsv1.Deployment) string {
	if len(d.Spec.Template.Spec.Containers) == 0 {
		return ""
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

// times returns what the watcher has seen so far.
func (w *watcher) times() (patched, back, complete time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.patched, w.back, w.complete
}

// waitFor waits up to d for cond over the watcher's times.
func (w *watcher) waitFor(d time.Duration, cond func(patched, back, complete time.Time) bool) {
	deadline := time.After(d)
	for {
		if cond(w.times()) {
			return
		}
		select {
		case <-w.changed:
		case <-deadline:
			return
		}
	}
}
