package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// setWatch is what the watchers of the release's Deployments (relWatcher,
// pvWatcher) share: their own watches (informers) of a namespace's
// Deployments and pods, events timestamped on arrival, the Deployments'
// generations at the start, which of them were seen off their previous
// image, and the transcript of the pods of the new images.
type setWatch struct {
	ns string

	mu       sync.Mutex
	startGen map[string]int64
	left     map[string]bool // the Deployment's template was seen off its previous image
	lastPod  map[string]string

	stop          chan struct{}
	stopOnce      sync.Once
	changed       chan struct{}
	deploys, pods cache.Store
	logf          func(string, ...any)
}

func (w *setWatch) init(ns string, logf func(string, ...any)) {
	w.ns, w.logf = ns, logf
	w.stop, w.changed = make(chan struct{}), make(chan struct{}, 1)
	w.left, w.lastPod = map[string]bool{}, map[string]string{}
}

func (w *setWatch) Stop() { w.stopOnce.Do(func() { close(w.stop) }) }

// watchSet makes the watches of the namespace's Deployments and pods in f
// and hands their events, and those of more, to observe (a delete as nil).
func (w *setWatch) watchSet(f informers.SharedInformerFactory, observe func(time.Time, any), more ...cache.SharedIndexInformer) error {
	di, pi := f.Apps().V1().Deployments().Informer(), f.Core().V1().Pods().Informer()
	w.deploys, w.pods = di.GetStore(), pi.GetStore()
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { observe(time.Now(), o) },
		UpdateFunc: func(_, o any) { observe(time.Now(), o) },
		DeleteFunc: func(any) { observe(time.Now(), nil) },
	}
	for _, inf := range append([]cache.SharedIndexInformer{di, pi}, more...) {
		if _, err := inf.AddEventHandler(h); err != nil {
			return err
		}
	}
	return nil
}

// start starts the factories and waits up to a minute for their caches; w
// is stopped when one never syncs.
func (w *setWatch) start(ctx context.Context, fs ...informers.SharedInformerFactory) error {
	for _, f := range fs {
		f.Start(w.stop)
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, f := range fs {
		for typ, ok := range f.WaitForCacheSync(sctx.Done()) {
			if !ok {
				w.Stop()
				return fmt.Errorf("watch %s in %s: cache never synced", typ, w.ns)
			}
		}
	}
	return nil
}

func (w *setWatch) signal() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// await waits up to a minute, woken by every change, until cond holds.
func (w *setWatch) await(cond func() bool) {
	deadline := time.After(time.Minute)
	for !cond() {
		select {
		case <-w.changed:
		case <-deadline:
			return
		}
	}
}

// event takes in an event's object o (w.mu held): a pod is noted (notePod
// of prev and next), and the release's Deployments are returned as the watch
// has them; false while one is missing.
func (w *setWatch) event(o any, prev, next map[string]string) (map[string]*appsv1.Deployment, bool) {
	if p, ok := o.(*corev1.Pod); ok {
		w.notePod(p, prev, next)
	}
	deps := map[string]*appsv1.Deployment{}
	for _, d := range relDeploys {
		obj, ok, _ := w.deploys.GetByKey(w.ns + "/" + d.name)
		if !ok {
			return nil, false
		}
		deps[d.name] = obj.(*appsv1.Deployment)
	}
	return deps, true
}

// changedDeployment is "Deployment/<name>" of the first of deps whose
// generation is above its value at the start, "" when none is.
func (w *setWatch) changedDeployment(deps map[string]*appsv1.Deployment) string {
	for _, d := range relDeploys {
		if deps[d.name].Generation > w.startGen[d.name] {
			return "Deployment/" + d.name
		}
	}
	return ""
}

// allServe: every Deployment of deps serves its image of images (podsServing).
func (w *setWatch) allServe(deps map[string]*appsv1.Deployment, images map[string]string) bool {
	for name, d := range deps {
		if !podsServing(w.pods, d, images[name]) {
			return false
		}
	}
	return true
}

// seeOff marks the Deployments of deps whose template is off its image of
// prev (none when prev is nil).
func (w *setWatch) seeOff(deps map[string]*appsv1.Deployment, prev map[string]string) {
	for name, d := range deps {
		if prev != nil && image(d) != prev[name] {
			w.left[name] = true
		}
	}
}

// notePod writes what the simulated kubelet shows for a pod of a new image
// (one of next that is not the same in prev; prev nil: every one of next)
// to the transcript when it changes (w.mu held).
func (w *setWatch) notePod(p *corev1.Pod, prev, next map[string]string) {
	if len(p.Spec.Containers) == 0 {
		return
	}
	img := p.Spec.Containers[0].Image
	isNew := false
	for name, n := range next {
		isNew = isNew || (img == n && (prev == nil || n != prev[name]))
	}
	if !isNew {
		return
	}
	desc := string(p.Status.Phase)
	for _, cs := range p.Status.ContainerStatuses {
		desc += fmt.Sprintf(" %s ready=%v restarts=%d", cs.Name, cs.Ready, cs.RestartCount)
		if st := cs.State.Waiting; st != nil {
			desc += " waiting " + st.Reason
		}
	}
	if p.DeletionTimestamp != nil {
		desc += " deleting"
	}
	if w.lastPod[p.Name] == desc {
		return
	}
	w.lastPod[p.Name] = desc
	w.logf("watcher: pod %s (%s): %s", p.Name, img, desc)
}
