package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/org/erlmcp-deploy/internal/progressive"
	"github.com/org/erlmcp-deploy/internal/rollout"
)

// Preview is what a release would change, read before anything is changed
// (for a canary of the release's workloads).
type Preview struct {
	// Workloads are the live Deployments whose pod template the release
	// changes, each as the release would apply it (the server's dry run).
	Workloads []*appsv1.Deployment
	// New are Deployments the release creates: nothing serves to compare a canary with.
	New []string
	// InPlace are other objects the release changes in place (a ConfigMap's
	// data, a Service): they change at the promotion, untested by a canary.
	InPlace []string
	// Images are the release's images.
	Images []string

	set     *set
	plan    *plan
	release string
}

// prerequisiteKinds are the kinds a pod template names that a release may
// add under a new name (a kustomize configMapGenerator's hashed names): a
// canary's pods need them, and creating them changes nothing that serves.
var prerequisiteKinds = map[string]bool{"ConfigMap": true, "Secret": true, "ServiceAccount": true, "PersistentVolumeClaim": true}

// Preview loads the release and dry-runs it (pre-flight without the lock):
// nothing is changed. Bad input is an *InputError, as from Run.
func (e *Engine) Preview(ctx context.Context, opts Options) (*Preview, error) {
	opts.DryRun = true
	s, err := e.load(opts)
	if err != nil {
		return nil, err
	}
	pf, err := e.preflight(ctx, opts, s)
	if err != nil {
		return nil, err
	}
	p, err := e.plan(ctx, opts, s, pf)
	if err != nil {
		return nil, err
	}
	pv := &Preview{set: s, plan: p, release: opts.Release, Images: s.images()}
	for _, en := range p.entries {
		kind := en.obj.GetKind()
		switch {
		case en.action == ActionUnchanged:
		case kind == "Deployment" && en.action == ActionCreate:
			pv.New = append(pv.New, en.name)
		case kind == "Deployment" && templateChanged(en):
			var d appsv1.Deployment
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(en.dry.Object, &d); err != nil {
				return nil, fmt.Errorf("read %s: %w", en.name, err)
			}
			pv.Workloads = append(pv.Workloads, &d)
		case en.action == ActionCreate && prerequisiteKinds[kind]:
		default:
			pv.InPlace = append(pv.InPlace, en.name)
		}
	}
	return pv, nil
}

// templateChanged reports whether a Deployment's pod template changes.
func templateChanged(en planned) bool {
	for _, c := range en.changes {
		if strings.HasPrefix(c.Path, "spec.template") {
			return true
		}
	}
	return false
}

// Prerequisites creates the objects of the kinds a pod template names
// (ConfigMaps, Secrets, ServiceAccounts, claims) that the release adds, so
// a canary's pods find them, and returns those it created (also on error),
// for the canary's state: progressive.Settle removes them once the canary
// is gone, unless a promotion made them the release's.
func (e *Engine) Prerequisites(ctx context.Context, pv *Preview) ([]progressive.Ref, error) {
	var created []progressive.Ref
	for i, en := range pv.plan.entries {
		if en.action != ActionCreate || en.deferred || !prerequisiteKinds[en.obj.GetKind()] {
			continue
		}
		body, err := json.Marshal(en.obj.Object)
		if err != nil {
			return created, err
		}
		force := true
		if _, err := e.resource(pv.set, i).Patch(ctx, en.obj.GetName(), types.ApplyPatchType, body,
			metav1.PatchOptions{FieldManager: rollout.FieldManager, Force: &force}); err != nil {
			return created, fmt.Errorf("create %s for the canary: %w", en.name, err)
		}
		created = append(created, progressive.Ref{Kind: en.obj.GetKind(), Name: en.obj.GetName()})
		e.Log.Infof("created %s (new in the release; the canary's pods may need it)", en.name)
	}
	return created, nil
}
