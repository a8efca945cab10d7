package manifest

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/org/erlmcp-deploy/internal/imageref"
)

// SplitList splits an input value given one per line or comma-separated
// (trims spaces, drops empties and lines starting with #).
func SplitList(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, item := range strings.Split(line, ",") {
			if item = strings.TrimSpace(item); item != "" && !strings.HasPrefix(item, "#") {
				out = append(out, item)
			}
		}
	}
	return out
}

// Images maps an image repository (registry/path, without tag or digest, e.g.
// "ghcr.io/acme/erlmcp" or "localhost:5000/erlmcp") to the full reference that replaces it.
type Images map[string]string

const imagesForm = "want repository=reference, e.g. ghcr.io/acme/erlmcp=ghcr.io/acme/erlmcp:1.2.0"

// ParseImages parses `repository=reference` entries (one per line or
// comma-separated); the reference needs a tag or a digest, the repository
// neither, and a repository may appear once.
func ParseImages(s string) (Images, error) {
	im := Images{}
	for _, entry := range SplitList(s) {
		repo, ref, ok := strings.Cut(entry, "=")
		repo, ref = strings.TrimSpace(repo), strings.TrimSpace(ref)
		if !ok || repo == "" || ref == "" {
			return nil, fmt.Errorf("image entry %q: %s", entry, imagesForm)
		}
		if err := checkRepository(repo); err != nil {
			return nil, fmt.Errorf("image entry %q: %w (%s)", entry, err, imagesForm)
		}
		if _, err := imageref.Parse(ref); err != nil {
			return nil, fmt.Errorf("image entry %q: %w (%s)", entry, err, imagesForm)
		}
		if err := im.put(repo, ref); err != nil {
			return nil, fmt.Errorf("image entry %q: %w", entry, err)
		}
	}
	return im, nil
}

// Add adds image ref (already validated by imageref.Parse) under its own repository.
func (im Images) Add(ref string) error {
	r, err := imageref.Parse(ref)
	if err != nil {
		return fmt.Errorf("add image: %w", err)
	}
	if err := im.put(r.Name(), ref); err != nil {
		return fmt.Errorf("add image %q: %w", ref, err)
	}
	return nil
}

// put stores ref under repo unless another key names the same repository.
func (im Images) put(repo, ref string) error {
	norm := normalizeRepository(repo)
	for k := range im {
		if normalizeRepository(k) == norm {
			if k == repo {
				return fmt.Errorf("repository %s is given twice", repo)
			}
			return fmt.Errorf("repository %s is given twice (as %s and %s)", norm, k, repo)
		}
	}
	im[repo] = ref
	return nil
}

// checkRepository accepts a repository name without tag or digest.
func checkRepository(repo string) error {
	if strings.Contains(repo, "@") {
		return fmt.Errorf("repository %q must not have a digest", repo)
	}
	if i := strings.LastIndexByte(repo, ':'); i >= 0 && i > strings.LastIndexByte(repo, '/') {
		return fmt.Errorf("repository %q must not have a tag", repo)
	}
	r, err := imageref.Parse(repo + ":x")
	if err != nil {
		return fmt.Errorf("repository %q is invalid: %w", repo, err)
	}
	if r.Name() != repo {
		return fmt.Errorf("repository %q is invalid", repo)
	}
	return nil
}

// normalizeRepository returns the canonical registry/path of repository name
// repo: Docker Hub's short forms become docker.io/library/..., hosts lowercase.
func normalizeRepository(repo string) string {
	r, err := imageref.Parse(repo + ":x")
	if err != nil {
		return repo
	}
	return canonicalName(r)
}

func canonicalName(r imageref.Ref) string {
	reg := strings.ToLower(r.Registry)
	switch reg {
	case "", "docker.io", "index.docker.io", "registry-1.docker.io":
		reg = "docker.io"
		if !strings.Contains(r.Repository, "/") {
			return reg + "/library/" + r.Repository
		}
	}
	return reg + "/" + r.Repository
}

// imageRepository returns the canonical repository of an image as written in
// a manifest (a tag is optional there), or false when it does not parse.
func imageRepository(image string) (string, bool) {
	r, err := imageref.Parse(image)
	if err != nil && !strings.Contains(image, "@") {
		r, err = imageref.Parse(image + ":latest")
		if err == nil && r.Tag != "latest" {
			err = fmt.Errorf("not an untagged image") // image had a tag that was invalid
		}
	}
	if err != nil {
		return "", false
	}
	return canonicalName(r), true
}

// podSpecPaths lists where the pod spec is, per group and kind of workload.
var podSpecPaths = map[[2]string][]string{
	{"apps", "Deployment"}:        {"spec", "template", "spec"},
	{"apps", "StatefulSet"}:       {"spec", "template", "spec"},
	{"apps", "DaemonSet"}:         {"spec", "template", "spec"},
	{"apps", "ReplicaSet"}:        {"spec", "template", "spec"},
	{"", "ReplicationController"}: {"spec", "template", "spec"},
	{"batch", "Job"}:              {"spec", "template", "spec"},
	{"batch", "CronJob"}:          {"spec", "jobTemplate", "spec", "template", "spec"},
	{"", "Pod"}:                   {"spec"},
}

// podSpecPath returns the field path of the pod spec in u, or nil when u is not a known workload.
func podSpecPath(u *unstructured.Unstructured) []string {
	gvk := u.GroupVersionKind()
	return podSpecPaths[[2]string{gvk.Group, gvk.Kind}]
}

// Substitute sets the image of every container and init container of the
// workloads in objs whose repository equals a key of images (tag and digest
// ignored, Docker Hub forms normalised). It returns, per key, the
// "Kind/name container" places set (empty when none matched) and changes
// objs in place.
func Substitute(objs []Object, images Images) (map[string][]string, error) {
	keys := make(map[string]string, len(images)) // canonical repository -> key
	changed := make(map[string][]string, len(images))
	for k, ref := range images {
		if err := checkRepository(k); err != nil {
			return nil, fmt.Errorf("substitute images: %w", err)
		}
		if _, err := imageref.Parse(ref); err != nil {
			return nil, fmt.Errorf("substitute images: %s: %w", k, err)
		}
		norm := normalizeRepository(k)
		if other, dup := keys[norm]; dup {
			return nil, fmt.Errorf("substitute images: %s and %s are the same repository", other, k)
		}
		keys[norm] = k
		changed[k] = []string{}
	}
	for _, o := range objs {
		path := podSpecPath(o.Unstructured)
		if path == nil {
			continue
		}
		for _, field := range []string{"initContainers", "containers"} {
			places, err := substituteContainers(o, append(append([]string{}, path...), field), keys, images)
			if err != nil {
				return nil, err
			}
			for k, p := range places {
				changed[k] = append(changed[k], p...)
			}
		}
	}
	return changed, nil
}

// substituteContainers rewrites the images in the container list at path and
// returns the places set, per key of images.
func substituteContainers(o Object, path []string, keys map[string]string, images Images) (map[string][]string, error) {
	// A missing list, or a parent that is not a mapping (the API server refuses
	// that object anyway), has nothing to substitute.
	list, found, _ := unstructured.NestedFieldNoCopy(o.Object, path...)
	if !found || list == nil {
		return nil, nil
	}
	containers, ok := list.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: %s/%s: %s must be a list", o.Source, o.GetKind(), o.GetName(), strings.Join(path, "."))
	}
	places := map[string][]string{}
	for i, c := range containers {
		cm, ok := c.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: %s/%s: %s[%d] must be a mapping", o.Source, o.GetKind(), o.GetName(), strings.Join(path, "."), i)
		}
		image, _ := cm["image"].(string)
		repo, ok := imageRepository(image)
		if !ok {
			continue
		}
		key, ok := keys[repo]
		if !ok {
			continue
		}
		cm["image"] = images[key]
		name, _ := cm["name"].(string)
		places[key] = append(places[key], fmt.Sprintf("%s/%s %s", o.GetKind(), o.GetName(), name))
	}
	return places, nil
}
