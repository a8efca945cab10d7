package deploy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/org/erlmcp-deploy/internal/apply"
	"github.com/org/erlmcp-deploy/internal/canary"
	engine "github.com/org/erlmcp-deploy/internal/deploy"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/kube"
	"github.com/org/erlmcp-deploy/internal/progressive"
	render "github.com/org/erlmcp-deploy/internal/report"
	"github.com/org/erlmcp-deploy/internal/ui"
)

// releaseCanary is the canary of a manifest release: every Deployment whose
// pod template the release changes gets a canary running the release's
// template next to it, judged step by step; the promotion applies the
// release as a whole (its own verdict and rollback); an abort removes the
// canaries and leaves everything of the release unapplied.
func releaseCanary(ctx context.Context, rt *ghaction.Runtime, log ui.Logger, eng *apply.Engine, kc *kube.Client, opts apply.Options, co canary.Options) (*apply.Result, error) {
	end := log.Group(fmt.Sprintf("Canary plan: what release %s changes", opts.Release))
	pv, err := eng.Preview(ctx, opts)
	end()
	if err != nil {
		return &apply.Result{Release: opts.Release, Status: apply.StatusFailed, FailureReason: err.Error()}, err
	}
	if len(pv.Workloads) == 0 {
		log.Infof("release %s changes the pod template of no running Deployment: nothing to canary, it is applied as a whole", opts.Release)
		return eng.Run(ctx, opts)
	}
	templates := primaryFirst(pv.Workloads, rt.String("deployment"))
	var names []string
	for _, t := range templates {
		names = append(names, "deployment/"+t.Name)
	}
	log.Infof("canary of %s: %s", opts.Release, strings.Join(names, ", "))
	if len(pv.New) > 0 {
		log.Warnf("%s: new in the release, nothing serves to compare a canary with; started at the promotion", strings.Join(pv.New, ", "))
	}
	if len(pv.InPlace) > 0 {
		log.Warnf("changed in place, so applied only at the promotion and not tried by the canary: %s (a ConfigMap with a new name per release, e.g. from kustomize's configMapGenerator, is tried by it)",
			strings.Join(pv.InPlace, ", "))
	}
	var promoted *apply.Result
	co.Release = &canary.Release{Templates: templates, Prepare: func(ctx context.Context) ([]progressive.Ref, error) {
		return eng.Prerequisites(ctx, pv)
	}, Promote: func(ctx context.Context) (*engine.Result, error) {
		opts := opts
		opts.Progressive = true // the canary's state is the canary's: it removes it after the promotion
		r, err := eng.Run(ctx, opts)
		promoted = r
		return &engine.Result{Status: engine.Status(r.Status), FailureReason: r.FailureReason, Duration: r.Duration,
			Image: strings.Join(r.Images, ", "), RolledBack: r.RolledBack}, err
	}}
	co.Deploy = engine.Options{Environment: opts.Environment, Namespace: opts.Namespace, Deployment: templates[0].Name,
		Image: "release " + opts.Release + " (" + strings.Join(pv.Images, ", ") + ")", Timeout: opts.Timeout, FailFast: opts.FailFast,
		Holder: opts.Holder, Force: opts.Force, Rollout: opts.Rollout, Recheck: opts.Recheck}
	c := &canary.Canary{Client: kc.Clientset, Log: log}
	if co.Decision != "" {
		// Bad input changes nothing: a decision needs a canary that waits for one and tried these manifests.
		if err := c.CheckDecision(ctx, co); err != nil {
			var de *canary.DecisionError
			if errors.As(err, &de) {
				return &apply.Result{Release: opts.Release, Status: apply.StatusFailed, Images: pv.Images, FailureReason: de.Msg},
					ghaction.InputErrors{{Name: "canary-decision", Reason: de.Msg, Accepted: "promote or abort, only while a canary waits for a decision on the same manifests and images"}}
			}
			return &apply.Result{Release: opts.Release, Status: apply.StatusFailed, Images: pv.Images, FailureReason: err.Error()}, err
		}
	}
	if opts.OnChange != nil {
		opts.OnChange(ctx, pv.Images)
	}
	cres, err := c.Run(ctx, co)
	rt.SetOutput("canary-share", strconv.FormatFloat(cres.MaxShare, 'f', 3, 64))
	var de *canary.DecisionError
	if errors.As(err, &de) {
		return &apply.Result{Release: opts.Release, Status: apply.StatusFailed, Images: pv.Images, FailureReason: de.Msg},
			ghaction.InputErrors{{Name: "canary-decision", Reason: de.Msg, Accepted: "promote or abort, only while a canary waits for a decision"}}
	}
	rt.Summary().Para(render.Canary(cres).String())
	if promoted != nil {
		return promoted, err
	}
	return &apply.Result{Release: opts.Release, Status: apply.Status(cres.Deploy.Status), Images: pv.Images, FailureReason: cres.Deploy.FailureReason,
		Advice: cres.Deploy.Advice, Diagnostics: cres.Deploy.Diagnostics, Duration: cres.Deploy.Duration}, err
}

// primaryFirst orders the release's changed Deployments with the one named
// by the deployment input first (the canary's state, lock and analysis
// target belong to the first).
func primaryFirst(ws []*appsv1.Deployment, primary string) []*appsv1.Deployment {
	out := make([]*appsv1.Deployment, 0, len(ws))
	for _, w := range ws {
		if w.Name == primary {
			out = append(out, w)
		}
	}
	for _, w := range ws {
		if w.Name != primary {
			out = append(out, w)
		}
	}
	return out
}
