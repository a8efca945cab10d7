package manifest_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/org/erlmcp-deploy/internal/manifest"
)

var digestC = "sha256:" + strings.Repeat("c", 64)

func TestSplitList(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a", []string{"a"}},
		{"a, b ,c", []string{"a", "b", "c"}},
		{"a\n\n  b  \n# a comment, with a comma\n  # indented comment\nc,,d,\n", []string{"a", "b", "c", "d"}},
		{"a\r\nb\r\n", []string{"a", "b"}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, manifest.SplitList(tt.in), "%q", tt.in)
	}
}

func TestParseImages(t *testing.T) {
	got, err := manifest.ParseImages(`
# repository=reference
ghcr.io/acme/erlmcp=ghcr.io/acme/erlmcp:1.2.0
localhost:5000/erlmcp = localhost:5000/erlmcp@` + digestC + `, nginx=mirror.example.com/nginx:1.27`)
	require.NoError(t, err)
	assert.Equal(t, manifest.Images{
		"ghcr.io/acme/erlmcp":   "ghcr.io/acme/erlmcp:1.2.0",
		"localhost:5000/erlmcp": "localhost:5000/erlmcp@" + digestC,
		"nginx":                 "mirror.example.com/nginx:1.27",
	}, got)

	empty, err := manifest.ParseImages(" \n# nothing\n")
	require.NoError(t, err)
	assert.Empty(t, empty)
}

func TestParseImagesErrors(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"ghcr.io/acme/erlmcp", []string{`image entry "ghcr.io/acme/erlmcp"`, "want repository=reference"}},
		{"=ghcr.io/acme/erlmcp:1", []string{`image entry "=ghcr.io/acme/erlmcp:1"`, "want repository=reference"}},
		{"ghcr.io/acme/erlmcp=", []string{"want repository=reference"}},
		{"ghcr.io/acme/erlmcp=ghcr.io/acme/erlmcp", []string{"no tag or digest", "want repository=reference"}},
		{"ghcr.io/acme/erlmcp:1=ghcr.io/acme/erlmcp:2", []string{`repository "ghcr.io/acme/erlmcp:1" must not have a tag`}},
		{"ghcr.io/acme/erlmcp@" + digestC + "=ghcr.io/acme/erlmcp:2", []string{"must not have a digest"}},
		{"Ghcr.io/Acme=ghcr.io/acme/erlmcp:2", []string{`repository "Ghcr.io/Acme" is invalid`, "must be lowercase"}},
		{"nginx=nginx:1\ndocker.io/library/nginx=nginx:2", []string{`image entry "docker.io/library/nginx=nginx:2": repository docker.io/library/nginx is given twice (as nginx and docker.io/library/nginx)`}},
		{"a/b=a/b:1,a/b=a/b:2", []string{"repository a/b is given twice"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := manifest.ParseImages(tt.in)
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestImagesAdd(t *testing.T) {
	im := manifest.Images{}
	require.NoError(t, im.Add("localhost:5000/erlmcp:1.2.0"))
	require.NoError(t, im.Add("ghcr.io/acme/erlmcp@"+digestC))
	assert.Equal(t, manifest.Images{
		"localhost:5000/erlmcp": "localhost:5000/erlmcp:1.2.0",
		"ghcr.io/acme/erlmcp":   "ghcr.io/acme/erlmcp@" + digestC,
	}, im)
	assert.ErrorContains(t, im.Add("localhost:5000/erlmcp:2"), "given twice")
	assert.ErrorContains(t, im.Add("ghcr.io/acme/erlmcp"), "no tag or digest")
}

// images returns "container=image" of every container of the workload.
func images(t *testing.T, o manifest.Object, path ...string) []string {
	t.Helper()
	var out []string
	for _, field := range []string{"initContainers", "containers"} {
		list, _, err := unstructured.NestedSlice(o.Object, append(append([]string{}, path...), field)...)
		require.NoError(t, err)
		for _, c := range list {
			m := c.(map[string]any)
			out = append(out, m["name"].(string)+"="+m["image"].(string))
		}
	}
	return out
}

func TestSubstitute(t *testing.T) {
	objs, err := manifest.Load([]string{"testdata/workloads.yaml"})
	require.NoError(t, err)
	im, err := manifest.ParseImages(strings.Join([]string{
		"ghcr.io/acme/erlmcp=ghcr.io/acme/erlmcp:2.0.0",
		"localhost:5000/erlmcp=localhost:5000/erlmcp@" + digestC,
		"docker.io/library/nginx=nginx:1.27.0",
		"quay.io/acme/unused=quay.io/acme/unused:1",
	}, "\n"))
	require.NoError(t, err)

	changed, err := manifest.Substitute(objs, im)
	require.NoError(t, err)
	assert.Equal(t, map[string][]string{
		"ghcr.io/acme/erlmcp":     {"Deployment/erlmcp migrate", "Deployment/erlmcp erlmcp"},
		"localhost:5000/erlmcp":   {"StatefulSet/cache cache"},
		"docker.io/library/nginx": {"Deployment/erlmcp proxy", "StatefulSet/cache web", "CronJob/backup backup", "Pod/debug shell"},
		"quay.io/acme/unused":     {},
	}, changed)

	tmpl := []string{"spec", "template", "spec"}
	assert.Equal(t, []string{
		"migrate=ghcr.io/acme/erlmcp:2.0.0",
		"erlmcp=ghcr.io/acme/erlmcp:2.0.0",
		"proxy=nginx:1.27.0",
		"sidecar=quay.io/acme/sidecar:3", // no key: left alone
	}, images(t, objs[0], tmpl...))
	assert.Equal(t, []string{"cache=localhost:5000/erlmcp@" + digestC, "web=nginx:1.27.0"}, images(t, objs[1], tmpl...))
	assert.Equal(t, []string{"backup=nginx:1.27.0"}, images(t, objs[2], "spec", "jobTemplate", "spec", "template", "spec"))
	assert.Equal(t, []string{"shell=nginx:1.27.0", "other=localhost:5000/erlmcp-other:1"}, images(t, objs[3], "spec"))
	assert.Equal(t, "nginx:1", objs[4].Object["data"].(map[string]any)["image"], "a ConfigMap is not a workload")
	assert.Equal(t, []string{"c=nginx:1"}, images(t, objs[5], tmpl...), "a Deployment of another API group is not a workload")
}

func TestSubstituteErrors(t *testing.T) {
	dep := func(containers any) []manifest.Object {
		return []manifest.Object{{Unstructured: &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "web"},
			"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": containers}}},
		}}, Source: manifest.Source{File: "k8s/web.yaml", Line: 3}}}
	}
	_, err := manifest.Substitute(dep("nope"), manifest.Images{"nginx": "nginx:1"})
	assert.EqualError(t, err, "k8s/web.yaml:3: Deployment/web: spec.template.spec.containers must be a list")
	_, err = manifest.Substitute(dep([]any{"nope"}), manifest.Images{"nginx": "nginx:1"})
	assert.EqualError(t, err, "k8s/web.yaml:3: Deployment/web: spec.template.spec.containers[0] must be a mapping")
	_, err = manifest.Substitute(dep([]any{}), manifest.Images{"nginx:1": "nginx:2"})
	assert.ErrorContains(t, err, "must not have a tag")
	_, err = manifest.Substitute(dep([]any{}), manifest.Images{"nginx": "nginx:1", "library/nginx": "nginx:2"})
	assert.ErrorContains(t, err, "are the same repository")

	// An image that does not parse (a template placeholder) is left alone.
	objs := dep([]any{map[string]any{"name": "c", "image": "${IMAGE}"}})
	changed, err := manifest.Substitute(objs, manifest.Images{"nginx": "nginx:1"})
	require.NoError(t, err)
	assert.Equal(t, map[string][]string{"nginx": {}}, changed)
}

func TestStripHPAReplicas(t *testing.T) {
	objs, err := manifest.Load([]string{"testdata/hpa.yaml"})
	require.NoError(t, err)
	assert.Equal(t, []string{"Deployment/web", "StatefulSet/db"}, manifest.StripHPAReplicas(objs))
	for _, o := range objs {
		if o.GetKind() == "HorizontalPodAutoscaler" {
			continue
		}
		_, has, _ := unstructured.NestedFieldNoCopy(o.Object, "spec", "replicas")
		want := map[string]bool{"web": false, "db": false, "other-ns": true, "wrong-group": true, "no-hpa": true}
		if w, ok := want[o.GetName()]; ok {
			assert.Equal(t, w, has, "%s/%s keeps spec.replicas", o.GetKind(), o.GetName())
		}
	}
	assert.Empty(t, manifest.StripHPAReplicas(objs), "idempotent")
}
