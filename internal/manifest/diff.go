package manifest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Change is one field that differs between the live object and the desired one.
type Change struct {
	// Path is the field, e.g. "data.sys.config" or "spec.template.spec.containers[name=erlmcp].image".
	Path string
	// From and To are short renderings of the live and desired values ("" when absent).
	From, To string
}

// maxRendered is the longest rendering of a value in a Change.
const maxRendered = 80

// secretValue stands for both sides of a changed Secret value.
const secretValue = "(secret value changed)"

// ignoredMetadata are server-managed metadata fields Diff ignores.
var ignoredMetadata = []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink"}

// ignoredAnnotations are annotations written by controllers and kubectl that Diff ignores.
var ignoredAnnotations = []string{"deployment.kubernetes.io/revision", "kubectl.kubernetes.io/last-applied-configuration"}

// Diff compares live with desired (e.g. the server-side dry-run result) and
// returns the changed fields sorted by path, ignoring server-managed metadata
// and the status. Lists of objects with a "name" key are compared by name;
// Secret data and stringData values are never rendered.
func Diff(live, desired *unstructured.Unstructured) []Change {
	a, b := withoutIgnored(live), withoutIgnored(desired)
	d := differ{secret: isSecret(live) || isSecret(desired)}
	d.walk("", a, b, true, true)
	sort.Slice(d.changes, func(i, j int) bool { return d.changes[i].Path < d.changes[j].Path })
	return d.changes
}

func isSecret(u *unstructured.Unstructured) bool {
	if u == nil {
		return false
	}
	gvk := u.GroupVersionKind()
	return gvk.Group == "" && gvk.Kind == "Secret"
}

// withoutIgnored returns a copy of u's content without the fields Diff ignores.
func withoutIgnored(u *unstructured.Unstructured) map[string]any {
	if u == nil || u.Object == nil {
		return map[string]any{}
	}
	m := u.DeepCopy().Object
	delete(m, "status")
	md, ok := m["metadata"].(map[string]any)
	if !ok {
		return m
	}
	for _, f := range ignoredMetadata {
		delete(md, f)
	}
	if ann, ok := md["annotations"].(map[string]any); ok {
		for _, a := range ignoredAnnotations {
			delete(ann, a)
		}
		if len(ann) == 0 {
			delete(md, "annotations")
		}
	}
	return m
}

type differ struct {
	secret  bool
	changes []Change
}

// walk compares a and b at path; hasA and hasB say whether each side is present.
func (d *differ) walk(path string, a, b any, hasA, hasB bool) {
	if hasA && hasB {
		if am, ok := a.(map[string]any); ok {
			if bm, ok := b.(map[string]any); ok {
				d.walkMaps(path, am, bm)
				return
			}
		}
		if al, ok := a.([]any); ok {
			if bl, ok := b.([]any); ok {
				d.walkLists(path, al, bl)
				return
			}
		}
		if equalLeaves(a, b) {
			return
		}
	}
	c := Change{Path: path}
	if hasA {
		c.From = render(a, maxRendered)
	}
	if hasB {
		c.To = render(b, maxRendered)
	}
	if d.secret && isSecretValue(path) {
		c.From, c.To = secretValue, secretValue
	}
	d.changes = append(d.changes, c)
}

func isSecretValue(path string) bool {
	for _, f := range []string{"data", "stringData"} {
		if path == f || strings.HasPrefix(path, f+".") {
			return true
		}
	}
	return false
}

func (d *differ) walkMaps(path string, a, b map[string]any) {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		av, hasA := a[k]
		bv, hasB := b[k]
		p := k
		if path != "" {
			p = path + "." + k
		}
		d.walk(p, av, bv, hasA, hasB)
	}
}

func (d *differ) walkLists(path string, a, b []any) {
	an, aok := byName(a)
	bn, bok := byName(b)
	if aok && bok {
		names := make([]string, 0, len(an)+len(bn))
		for _, v := range a {
			names = append(names, v.(map[string]any)["name"].(string))
		}
		for _, v := range b {
			if n := v.(map[string]any)["name"].(string); an[n] == nil {
				names = append(names, n)
			}
		}
		for _, n := range names {
			av, bv := an[n], bn[n]
			d.walk(fmt.Sprintf("%s[name=%s]", path, n), av, bv, av != nil, bv != nil)
		}
		return
	}
	for i := 0; i < max(len(a), len(b)); i++ {
		var av, bv any
		if i < len(a) {
			av = a[i]
		}
		if i < len(b) {
			bv = b[i]
		}
		d.walk(path+"["+strconv.Itoa(i)+"]", av, bv, i < len(a), i < len(b))
	}
}

// byName indexes a list of mappings by their unique string "name"; false when
// the list is not such a list.
func byName(l []any) (map[string]map[string]any, bool) {
	m := make(map[string]map[string]any, len(l))
	for _, v := range l {
		vm, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		n, ok := vm["name"].(string)
		if !ok || m[n] != nil {
			return nil, false
		}
		m[n] = vm
	}
	return m, true
}

// equalLeaves compares two values by their JSON, so that int64(1) equals float64(1).
func equalLeaves(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// render returns a one-line rendering of v: strings as they are (newlines
// shown as \n, "" quoted), everything else as compact JSON, cut to limit
// runes when limit > 0.
func render(v any, limit int) string {
	var s string
	switch x := v.(type) {
	case string:
		s = strings.ReplaceAll(x, "\n", `\n`)
		if s == "" {
			s = `""`
		}
	default:
		js, err := json.Marshal(x)
		if err != nil {
			s = fmt.Sprint(x)
		} else {
			s = string(js)
		}
	}
	if limit > 0 && utf8.RuneCountInString(s) > limit {
		r := []rune(s)
		s = string(r[:limit-1]) + "…"
	}
	return s
}
