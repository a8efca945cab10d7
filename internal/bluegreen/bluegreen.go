// Package bluegreen rolls a new image out blue-green without a controller:
// a <deployment>-green Deployment on the new image, checked through a
// <service>-preview Service, then the live Service switched to it by its
// pod-template-hash (no pod restarts, seconds). The old pods stay for
// blue-green-keep, during which a rollback is a switch back; then the
// Deployment itself is rolled to the new image (its old pods go), the
// Service follows it and the green Deployment is removed, so the next
// deploy — of any strategy — finds one Deployment serving.
package bluegreen

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/org/erlmcp-deploy/internal/canary"
	"github.com/org/erlmcp-deploy/internal/deploy"
	"github.com/org/erlmcp-deploy/internal/history"
	"github.com/org/erlmcp-deploy/internal/lock"
	"github.com/org/erlmcp-deploy/internal/progressive"
	"github.com/org/erlmcp-deploy/internal/rollout"
	"github.com/org/erlmcp-deploy/internal/ui"
	"github.com/org/erlmcp-deploy/internal/verify"
)

// Track is the green Deployment's track label value.
const Track = progressive.TrackGreen

// HashLabel is the label the live Service is pinned by.
const HashLabel = progressive.HashLabel

// Options are one blue-green deploy's settings.
type Options struct {
	Deploy deploy.Options
	// Service is the live Service (default: the Deployment's name).
	Service string
	// Preview, when set, must pass through the preview Service before the switch.
	Preview func(ctx context.Context, previewService string) error
	// Keep is how long the old pods stay after the switch (a rollback then is a switch back).
	Keep time.Duration
}

// Result is what a blue-green deploy did.
type Result struct {
	Deploy *deploy.Result
	// Switched is when the live Service was switched to green (zero: never).
	Switched time.Time
	// SwitchedBack: the health check after the switch failed and the Service went back.
	SwitchedBack bool
	// SwitchBack is how long the switch back took.
	SwitchBack time.Duration
	Cleaned    string
	Reason     string
}

// State is a blue-green deploy under way, on the stable Deployment (package
// progressive owns the record).
type State = progressive.State

// BlueGreen runs blue-green deploys against one cluster.
type BlueGreen struct {
	Client   kubernetes.Interface
	Log      ui.Logger
	Now      func() time.Time
	Deployer *deploy.Deployer
}

func (b *BlueGreen) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// Run deploys opts.Deploy.Image blue-green (see the package comment).
func (b *BlueGreen) Run(ctx context.Context, opts Options) (_ *Result, err error) {
	o := opts.Deploy
	if opts.Service == "" {
		opts.Service = o.Deployment
	}
	res := &Result{Deploy: &deploy.Result{Image: o.Image, Digest: o.Digest, Status: deploy.StatusFailed}}
	start := b.now()
	defer func() { res.Deploy.Duration = b.now().Sub(start) }()
	fail := func(err error) (*Result, error) {
		res.Deploy.FailureReason = err.Error()
		return res, err
	}

	end := b.Log.Group(fmt.Sprintf("Blue-green pre-flight: deployment %s/%s behind service %s (%s)", o.Namespace, o.Deployment, opts.Service, o.Environment))
	lk, err := lock.Acquire(ctx, b.Client, o.Namespace, o.Deployment,
		lock.Holder{ID: o.Holder, Environment: o.Environment, Action: "blue-green", Target: o.Image}, 3*o.Timeout+5*time.Minute, o.Force)
	if err != nil {
		end()
		return fail(fmt.Errorf("%w (nothing was changed)", err))
	}
	ctx = lk.Hold(ctx)
	unlocked := false
	unlock := func() {
		if !unlocked {
			unlocked = true
			_ = lk.Release(context.WithoutCancel(ctx))
		}
	}
	defer func() {
		unlock()
		if lost := lk.Lost(); lost != nil && err != nil {
			b.Log.Errorf("%v; the blue-green is left as it is, for the run that holds the lock now", lost)
			res.Deploy.Status, res.Deploy.FailureReason = deploy.StatusFailed, lost.Error()
			err = fmt.Errorf("%w (%w)", lost, err)
		}
	}()
	settled, err := progressive.Settle(ctx, b.Client, o.Namespace, o.Deployment)
	if err != nil {
		end()
		return fail(err)
	}
	if settled.Did() {
		res.Cleaned = settled.String()
		b.Log.Warnf("%s", res.Cleaned)
	}
	blue, rs, err := b.serving(ctx, o)
	if err != nil {
		end()
		return fail(fmt.Errorf("%w (nothing was changed)", err))
	}
	svc, err := b.Client.CoreV1().Services(o.Namespace).Get(ctx, opts.Service, metav1.GetOptions{})
	if err != nil {
		end()
		return fail(fmt.Errorf("read the live service %s: %w (nothing was changed)", opts.Service, err))
	}
	if !selects(svc.Spec.Selector, blue.Spec.Template.Labels) {
		end()
		return fail(fmt.Errorf("service %s (selector %v) does not select the pods of deployment %s: set the service input (nothing was changed)", svc.Name, svc.Spec.Selector, blue.Name))
	}
	container, err := deploy.PickContainer(blue, o.Container)
	if err != nil {
		end()
		return fail(fmt.Errorf("%w (nothing was changed)", err))
	}
	res.Deploy.PreviousImages = history.Images(&blue.Spec.Template)
	end()

	st := State{Strategy: progressive.StrategyBlueGreen, Image: o.Image, Run: o.Holder, Started: b.now(), Service: svc.Name, Blue: rs.Labels[HashLabel]}
	if err := b.record(ctx, o, &st); err != nil {
		return fail(err)
	}
	// Pin the live Service to the serving pods: the green pods carry its labels too.
	if err := progressive.SelectHash(ctx, b.Client, o.Namespace, svc.Name, st.Blue); err != nil {
		return fail(err)
	}
	end = b.Log.Group(fmt.Sprintf("Green: %s on %s", o.Deployment+"-"+Track, o.Image))
	var inits []string
	if o.InitContainers {
		inits = deploy.SameRepositoryInits(blue, container)
	}
	green, err := b.apply(ctx, canary.Workload(blue, Track, o.Image, container, inits, ptrOr(blue.Spec.Replicas, 1)))
	end()
	if err != nil {
		return b.abort(ctx, opts, res, err.Error())
	}
	ro := o.Rollout
	ro.FailFast = o.FailFast
	out, err := verify.Step{Client: b.Client, Log: b.Log, Now: b.Now, Rollout: ro, Recheck: o.Recheck, Group: "Green: rollout"}.Run(ctx, green, b.now().Add(o.Timeout))
	if err != nil {
		return res, err
	}
	res.Deploy.Verdict, res.Deploy.TimeToVerdict, res.Deploy.Diagnostics = out.Verdict, out.Elapsed, out.Diagnostics
	if c := verify.Conclude(out); c.Kind != verify.Verified {
		return b.abort(ctx, opts, res, "green did not become ready: "+c.Reason)
	}
	st.Green = out.NewReplicaSet.Labels[HashLabel]
	preview, err := b.previewService(ctx, svc, st.Green)
	if err != nil {
		return b.abort(ctx, opts, res, err.Error())
	}
	if opts.Preview != nil {
		end = b.Log.Group("Green: preview check through service " + preview)
		err := opts.Preview(ctx, preview)
		end()
		if err != nil {
			return b.abort(ctx, opts, res, "the preview check failed: "+err.Error())
		}
		b.Log.Infof("preview check passed")
	}

	end = b.Log.Group("Switch service " + svc.Name + " to green")
	st.Switched = true
	if err := b.record(ctx, o, &st); err != nil {
		end()
		return b.abort(ctx, opts, res, err.Error())
	}
	if err := progressive.SelectHash(ctx, b.Client, o.Namespace, svc.Name, st.Green); err != nil {
		end()
		return b.abort(ctx, opts, res, err.Error())
	}
	res.Switched = b.now()
	b.Log.Infof("service %s now selects the green pods (%s); the old pods stay for %s", svc.Name, o.Image, opts.Keep)
	if o.HealthCheck != nil {
		if err := o.HealthCheck(ctx); err != nil {
			end()
			t := b.now()
			r, aerr := b.abort(ctx, opts, res, "health check after the switch failed: "+err.Error())
			res.SwitchedBack, res.SwitchBack = true, b.now().Sub(t)
			res.Deploy.Status, res.Deploy.RolledBack = deploy.StatusRolledBack, true
			return r, aerr
		}
		b.Log.Infof("health check passed")
	}
	end()
	if opts.Keep > 0 {
		b.Log.Infof("keeping the old pods for %s (until %s): a rollback now is a switch back", opts.Keep, b.now().Add(opts.Keep).UTC().Format(time.TimeOnly))
		select {
		case <-ctx.Done():
			b.Log.Errorf("cancelled while keeping the old pods: green serves; the next deploy or the rollback action (to: cleanup) switches back to the old pods")
			return res, ctx.Err()
		case <-time.After(opts.Keep):
		}
	}
	unlock()
	return b.finish(ctx, opts, res, &st)
}

// finish rolls the Deployment itself to the new image (the Service stays
// on green meanwhile), moves the Service to it and removes green.
func (b *BlueGreen) finish(ctx context.Context, opts Options, res *Result, st *State) (*Result, error) {
	o := opts.Deploy
	o.HealthCheck = nil  // the Service still points at green: checked below, once it follows
	o.Progressive = true // the state is ours: finished below
	dres, err := b.Deployer.Run(ctx, o)
	if err != nil || dres.Status != deploy.StatusSucceeded {
		b.Log.Errorf("rolling deployment %s to %s failed after the switch; green keeps serving: %v", o.Deployment, o.Image, err)
		if dres != nil {
			dres.PreviousImages = res.Deploy.PreviousImages
			res.Deploy = dres
		}
		return res, fmt.Errorf("blue-green: green serves %s, but deployment %s could not follow: %w; run deploy again", o.Image, o.Deployment, err)
	}
	end := b.Log.Group("Service " + st.Service + " follows deployment " + o.Deployment)
	defer end()
	d, err := b.Client.AppsV1().Deployments(o.Namespace).Get(ctx, o.Deployment, metav1.GetOptions{})
	if err != nil {
		return res, err
	}
	if err := progressive.Unpin(ctx, b.Client, o.Namespace, st.Service); err != nil {
		return res, err
	}
	// What is left (green, the preview Service, the record) is removed as
	// any later run would; green runs the image that now serves anyway.
	if settled, err := progressive.Settle(ctx, b.Client, o.Namespace, o.Deployment); err != nil {
		b.Log.Warnf("%v", err)
	} else if settled.Did() {
		b.Log.Infof("%s", settled)
	}
	dres.PreviousImages = res.Deploy.PreviousImages
	res.Deploy = dres
	b.Log.Infof("deployment %s serves %s; green removed: %s", o.Deployment, o.Image, rollout.Describe(d))
	return res, nil
}

// abort switches the Service back to the old pods and removes green; the
// Deployment was never touched.
func (b *BlueGreen) abort(ctx context.Context, opts Options, res *Result, why string) (*Result, error) {
	o := opts.Deploy
	b.Log.Errorf("blue-green of %s aborted: %s", o.Image, why)
	msg, err := progressive.Settle(context.WithoutCancel(ctx), b.Client, o.Namespace, o.Deployment)
	res.Deploy.Status, res.Reason, res.Deploy.FailureReason = deploy.StatusAborted, why, why
	if err != nil {
		return res, fmt.Errorf("blue-green aborted (%s) and its clean-up failed: %w", why, err)
	}
	b.Log.Infof("%s", msg)
	return res, fmt.Errorf("blue-green of %s aborted: %s", o.Image, why)
}

// serving is the Deployment and its ReplicaSet serving complete.
func (b *BlueGreen) serving(ctx context.Context, o deploy.Options) (*appsv1.Deployment, *appsv1.ReplicaSet, error) {
	d, err := b.Client.AppsV1().Deployments(o.Namespace).Get(ctx, o.Deployment, metav1.GetOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("read deployment %s: %w", o.Deployment, err)
	}
	if _, done, _ := rollout.DeploymentStatus(d); !done {
		return nil, nil, fmt.Errorf("deployment %s is not serving a complete rollout (%s): blue-green switches between complete sets of pods", d.Name, rollout.Describe(d))
	}
	revs, err := history.List(ctx, b.Client, d)
	if err != nil {
		return nil, nil, err
	}
	var rss []*appsv1.ReplicaSet
	for _, r := range revs {
		rss = append(rss, r.ReplicaSet)
	}
	rs := history.NewReplicaSet(d, rss)
	if rs == nil || rs.Labels[HashLabel] == "" {
		return nil, nil, fmt.Errorf("deployment %s: no ReplicaSet with a %s label serves it", d.Name, HashLabel)
	}
	return d, rs, nil
}

func (b *BlueGreen) apply(ctx context.Context, d *appsv1.Deployment) (*appsv1.Deployment, error) {
	body, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	force := true
	out, err := b.Client.AppsV1().Deployments(d.Namespace).Patch(ctx, d.Name, types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: rollout.FieldManager, Force: &force})
	if err != nil {
		return nil, fmt.Errorf("apply deployment %s: %w", d.Name, err)
	}
	return out, nil
}

// previewService points <service>-preview at the green pods.
func (b *BlueGreen) previewService(ctx context.Context, live *corev1.Service, hash string) (string, error) {
	sel := maps.Clone(live.Spec.Selector)
	delete(sel, HashLabel)
	sel[HashLabel] = hash
	p := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: live.Name + "-preview", Namespace: live.Namespace, Labels: map[string]string{canary.OfLabel: live.Name}},
		Spec:       corev1.ServiceSpec{Selector: sel, Ports: live.Spec.Ports, Type: corev1.ServiceTypeClusterIP},
	}
	for i := range p.Spec.Ports {
		p.Spec.Ports[i].NodePort = 0
	}
	body, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	force := true
	if _, err := b.Client.CoreV1().Services(live.Namespace).Patch(ctx, p.Name, types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: rollout.FieldManager, Force: &force}); err != nil {
		return "", fmt.Errorf("apply the preview service %s: %w", p.Name, err)
	}
	b.Log.Infof("service %s selects the green pods only", p.Name)
	return p.Name, nil
}

func (b *BlueGreen) record(ctx context.Context, o deploy.Options, st *State) error {
	return progressive.Write(ctx, b.Client, o.Namespace, o.Deployment, st)
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if k == HashLabel {
			continue
		}
		if labels[k] != v {
			return false
		}
	}
	return true
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}
