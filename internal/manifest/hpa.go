package manifest

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// StripHPAReplicas removes spec.replicas from every workload in objs that a
// HorizontalPodAutoscaler in objs scales (scaleTargetRef group, kind and name
// in the HPA's namespace), so a server-side apply neither resets nor conflicts
// with the replica count the HPA set. It returns "Kind/name" of each workload changed.
func StripHPAReplicas(objs []Object) []string {
	targets := map[objectKey]bool{}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		if gvk.Group != "autoscaling" || gvk.Kind != "HorizontalPodAutoscaler" {
			continue
		}
		ref, _, _ := unstructured.NestedMap(o.Object, "spec", "scaleTargetRef")
		apiVersion, _ := ref["apiVersion"].(string)
		kind, _ := ref["kind"].(string)
		name, _ := ref["name"].(string)
		gv, err := schema.ParseGroupVersion(apiVersion)
		if err != nil || kind == "" || name == "" {
			continue // the HPA controller cannot scale such a target either
		}
		targets[objectKey{group: gv.Group, kind: kind, namespace: o.GetNamespace(), name: name}] = true
	}
	var changed []string
	for _, o := range objs {
		if !targets[keyOf(o.Unstructured)] {
			continue
		}
		if _, found, _ := unstructured.NestedFieldNoCopy(o.Object, "spec", "replicas"); !found {
			continue
		}
		unstructured.RemoveNestedField(o.Object, "spec", "replicas")
		changed = append(changed, o.GetKind()+"/"+o.GetName())
	}
	return changed
}
