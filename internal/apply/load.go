package apply

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/org/erlmcp-deploy/internal/history"
	"github.com/org/erlmcp-deploy/internal/inventory"
	"github.com/org/erlmcp-deploy/internal/manifest"
	"github.com/org/erlmcp-deploy/internal/rollout"
)

// LabelGroup prefixes the labels that mark an object as a release's:
// erlmcp-deploy.io/name (the release) and erlmcp-deploy.io/namespace. Prune
// and rollback only ever delete objects that carry them.
const LabelGroup = "erlmcp-deploy.io"

// owner is the apply engine's identity: our field manager and labels.
var owner = ssa.Owner{Field: rollout.FieldManager, Group: LabelGroup}

// set is a release's objects, ready to apply: images substituted, replicas
// of HPA-scaled workloads dropped, namespaces defaulted, owner labels set.
type set struct {
	objects  []manifest.Object
	mappings []*meta.RESTMapping
	encoded  []byte
	// namespaces the set itself defines.
	namespaces map[string]bool
}

// load reads the manifests and prepares them (see set).
func (e *Engine) load(opts Options) (*set, error) {
	objs, err := manifest.Load(opts.Manifests)
	if err != nil {
		return nil, inputError("manifests", err)
	}
	changed, err := manifest.Substitute(objs, opts.Images)
	if err != nil {
		return nil, inputError("images", err)
	}
	for _, repo := range sortedKeys(changed) {
		if len(changed[repo]) > 0 {
			e.Log.Infof("image %s: %s", opts.Images[repo], strings.Join(changed[repo], ", "))
		}
	}
	for _, repo := range opts.Required {
		if len(changed[repo]) == 0 {
			return nil, inputError("image", fmt.Errorf("no container or init container in the manifests runs repository %s (images found: %s)",
				repo, joinOr(manifestImages(objs), "none")))
		}
	}
	if stripped := manifest.StripHPAReplicas(objs); len(stripped) > 0 {
		e.Log.Infof("replicas left to the HorizontalPodAutoscaler for %s (not applied, so the HPA's count stays)", strings.Join(stripped, ", "))
	}
	s, err := e.resolve(opts, objs)
	if err != nil {
		return nil, err
	}
	us := s.unstructured()
	ssa.NewResourceManager(nil, nil, owner).SetOwnerLabels(us, opts.Release, opts.Namespace)
	// The recorded manifests are the release's identity: the change-cause
	// names the run, not the release, so it is recorded apart (Release.Cause)
	// and added to the Deployments only once they are encoded.
	if s.encoded, err = manifest.Encode(us); err != nil {
		return nil, fmt.Errorf("encode the release: %w", err)
	}
	setChangeCause(s.objects, opts.ChangeCause)
	e.Log.Infof("%d objects from %s", len(s.objects), strings.Join(opts.Manifests, ", "))
	return s, nil
}

// setChangeCause sets the change-cause annotation of every Deployment of
// objs (nothing when cause is empty).
func setChangeCause(objs []manifest.Object, cause string) {
	if cause == "" {
		return
	}
	for _, o := range objs {
		if o.GroupVersionKind().Group == "apps" && o.GetKind() == "Deployment" {
			ann := o.GetAnnotations()
			if ann == nil {
				ann = map[string]string{}
			}
			ann[history.ChangeCauseAnnotation] = cause
			o.SetAnnotations(ann)
		}
	}
}

// resolve maps every object to its API resource (an unknown kind is an
// error naming its file and line), defaults namespaces and masks Secrets.
func (e *Engine) resolve(opts Options, objs []manifest.Object) (*set, error) {
	s := &set{namespaces: map[string]bool{}}
	var problems []*manifest.Error
	moved := map[string]int{} // namespace in the manifests → objects a confined release placed elsewhere
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := e.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			if meta.IsNoMatchError(err) {
				problems = append(problems, &manifest.Error{File: o.Source.File, Line: o.Source.Line,
					Msg: fmt.Sprintf("%s %q: the cluster does not serve kind %s in %s (install its CRD first, or fix apiVersion/kind)",
						o.GetKind(), o.GetName(), o.GetKind(), o.GetAPIVersion())})
				continue
			}
			return nil, fmt.Errorf("discover kind %s: %w", gvk, err)
		}
		namespaced := m.Scope.Name() == meta.RESTScopeNameNamespace
		if opts.Confine && isNamespace(o.Unstructured) {
			e.Log.Infof("Namespace %s of the manifests is left out: the release runs in namespace %s", o.GetName(), opts.Namespace)
			continue
		}
		if opts.Confine && !namespaced {
			problems = append(problems, &manifest.Error{File: o.Source.File, Line: o.Source.Line,
				Msg: fmt.Sprintf("%s %q is cluster-scoped: a release confined to namespace %s may hold only namespaced objects (install it apart, once, for every preview)",
					o.GetKind(), o.GetName(), opts.Namespace)})
			continue
		}
		switch {
		case !namespaced:
			o.SetNamespace("")
		case opts.Confine && o.GetNamespace() != "" && o.GetNamespace() != opts.Namespace:
			moved[o.GetNamespace()]++
			o.SetNamespace(opts.Namespace)
		case o.GetNamespace() == "":
			o.SetNamespace(opts.Namespace)
		}
		if isNamespace(o.Unstructured) {
			s.namespaces[o.GetName()] = true
		}
		maskSecret(opts.Mask, o.Unstructured)
		s.objects = append(s.objects, o)
		s.mappings = append(s.mappings, m)
	}
	if len(problems) > 0 {
		return nil, &InputError{Input: "manifests", Problems: problems}
	}
	for _, from := range sortedKeys(moved) {
		e.Log.Infof("%d object(s) placed in namespace %s (the manifests say %s)", moved[from], opts.Namespace, from)
	}
	return s, nil
}

func isNamespace(u *unstructured.Unstructured) bool {
	return u.GroupVersionKind().Group == "" && u.GetKind() == "Namespace"
}

func (s *set) unstructured() []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(s.objects))
	for i, o := range s.objects {
		out[i] = o.Unstructured
	}
	return out
}

// refs are the release's objects for the inventory.
func (s *set) refs() []inventory.Ref {
	out := make([]inventory.Ref, len(s.objects))
	for i, o := range s.objects {
		out[i] = inventory.RefOf(o.Unstructured)
	}
	return out
}

// images are the distinct images the set's workloads run.
func (s *set) images() []string {
	var objs []manifest.Object
	objs = append(objs, s.objects...)
	return manifestImages(objs)
}

// manifestImages lists the distinct container images of objs, sorted.
func manifestImages(objs []manifest.Object) []string {
	seen := map[string]bool{}
	for _, o := range objs {
		for _, path := range [][]string{
			{"spec", "template", "spec"},
			{"spec", "jobTemplate", "spec", "template", "spec"},
			{"spec"},
		} {
			podSpec, ok, _ := unstructured.NestedMap(o.Object, path...)
			if !ok {
				continue
			}
			for _, key := range []string{"initContainers", "containers"} {
				cs, _, _ := unstructured.NestedSlice(podSpec, key)
				for _, c := range cs {
					if m, ok := c.(map[string]any); ok {
						if img, ok := m["image"].(string); ok && img != "" {
							seen[img] = true
						}
					}
				}
			}
		}
	}
	return sortedKeys(seen)
}

// maskSecret hands the values of a Secret in the manifests to mask, so no
// log line or diagnostic ever prints them.
func maskSecret(mask func(string), u *unstructured.Unstructured) {
	if mask == nil || u.GetKind() != "Secret" || u.GroupVersionKind().Group != "" {
		return
	}
	for _, key := range []string{"data", "stringData"} {
		m, _, _ := unstructured.NestedStringMap(u.Object, key)
		for _, v := range m {
			if len(v) < 4 {
				continue
			}
			mask(v)
			if key == "data" {
				if plain, err := base64.StdEncoding.DecodeString(v); err == nil && len(plain) >= 4 {
					mask(string(plain))
				}
			}
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
