package manifest_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/org/erlmcp-deploy/internal/manifest"
)

// summary is what a test checks of a loaded object.
type summary struct {
	Source string
	Kind   string
	NS     string
	Name   string
}

func summarize(objs []manifest.Object) []summary {
	out := make([]summary, 0, len(objs))
	for _, o := range objs {
		out = append(out, summary{o.Source.String(), o.GetKind(), o.GetNamespace(), o.GetName()})
	}
	return out
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name  string
		paths []string
		want  []summary
	}{
		{
			name:  "multi-document YAML with comments, empty documents and a List",
			paths: []string{"testdata/multi.yaml"},
			want: []summary{
				{"testdata/multi.yaml:3", "ConfigMap", "erlmcp", "erlmcp-config"},
				{"testdata/multi.yaml:16", "Deployment", "erlmcp", "erlmcp"},
				{"testdata/multi.yaml:36", "Service", "erlmcp", "erlmcp"},
				{"testdata/multi.yaml:43", "ServiceAccount", "erlmcp", "erlmcp"},
			},
		},
		{
			name:  "JSON *List with tabs",
			paths: []string{"testdata/list.json"},
			want: []summary{
				{"testdata/list.json:5", "ConfigMap", "", "one"},
				{"testdata/list.json:11", "ConfigMap", "", "two"},
			},
		},
		{
			name:  "directory: manifest files sorted by name, README.md, notes.txt and sub/ ignored, comment-only file fine",
			paths: []string{"testdata/dir"},
			want: []summary{
				{"testdata/dir/a-config.json:1", "ConfigMap", "", "web"},
				{"testdata/dir/b-service.yaml:1", "Service", "", "web"},
			},
		},
		{
			name:  "kustomization rendered in-process",
			paths: []string{"testdata/kustomize/overlay"},
			want: []summary{
				{"testdata/kustomize/overlay (kustomization)", "Deployment", "staging", "staging-erlmcp"},
				{"testdata/kustomize/overlay (kustomization)", "Service", "staging", "staging-erlmcp"},
			},
		},
		{
			name:  "paths keep their order",
			paths: []string{"testdata/dir/b-service.yaml", "testdata/list.json", "testdata/errors/empty-dir"},
			want: []summary{
				{"testdata/dir/b-service.yaml:1", "Service", "", "web"},
				{"testdata/list.json:5", "ConfigMap", "", "one"},
				{"testdata/list.json:11", "ConfigMap", "", "two"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := manifest.Load(tt.paths)
			require.NoError(t, err)
			assert.Equal(t, tt.want, summarize(objs))
		})
	}
}

func TestLoadContent(t *testing.T) {
	objs, err := manifest.Load([]string{"testdata/multi.yaml", "testdata/kustomize/overlay"})
	require.NoError(t, err)
	require.Len(t, objs, 6)

	data, _, _ := unstructured.NestedString(objs[0].Object, "data", "sys.config")
	assert.Equal(t, "[{erlmcp, [{port, 8080}]}].\n", data)
	replicas, found, err := unstructured.NestedInt64(objs[1].Object, "spec", "replicas")
	require.NoError(t, err, "numbers are int64, as the apimachinery expects")
	assert.True(t, found)
	assert.Equal(t, int64(3), replicas)
	assert.NotPanics(t, func() { objs[1].DeepCopy() })

	kdep := objs[4]
	assert.Equal(t, manifest.Source{File: "testdata/kustomize/overlay", Kustomization: true}, kdep.Source)
	assert.Equal(t, map[string]string{"env": "staging"}, kdep.GetLabels(), "labels: applied")
	containers, _, _ := unstructured.NestedSlice(kdep.Object, "spec", "template", "spec", "containers")
	require.Len(t, containers, 1)
	assert.Equal(t, "ghcr.io/acme/erlmcp:2.0.0", containers[0].(map[string]any)["image"], "images: applied")
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		paths []string
		want  string
		file  string
		line  int
	}{
		{
			name:  "missing path",
			paths: []string{"testdata/multi.yaml", "testdata/nope.yaml"},
			want:  "testdata/nope.yaml: no such file or directory",
			file:  "testdata/nope.yaml",
		},
		{
			name:  "file that is not a manifest",
			paths: []string{"testdata/dir/README.md"},
			want:  "testdata/dir/README.md: not a manifest file: want a .yaml, .yml or .json file, a directory or a kustomization directory",
			file:  "testdata/dir/README.md",
		},
		{
			name:  "unterminated string in the second document",
			paths: []string{"testdata/errors/syntax.yaml"},
			want:  "testdata/errors/syntax.yaml:11: YAML syntax error: found unexpected end of stream",
			file:  "testdata/errors/syntax.yaml",
			line:  11,
		},
		{
			name:  "bad indentation after a comment",
			paths: []string{"testdata/errors/indent.yaml"},
			want:  "testdata/errors/indent.yaml:6: YAML syntax error: mapping values are not allowed in this context",
			file:  "testdata/errors/indent.yaml",
			line:  6,
		},
		{
			name:  "key given twice in one mapping",
			paths: []string{"testdata/errors/dup-key.yaml"},
			want:  `testdata/errors/dup-key.yaml:9: YAML syntax error: mapping key "name" is already defined at line 8`,
			file:  "testdata/errors/dup-key.yaml",
			line:  9,
		},
		{
			name:  "JSON syntax error",
			paths: []string{"testdata/errors/bad.json"},
			want:  "testdata/errors/bad.json:5: JSON syntax error: invalid character '}' looking for beginning of object key string",
			file:  "testdata/errors/bad.json",
			line:  5,
		},
		{
			name:  "JSON key given twice",
			paths: []string{"testdata/errors/dup-key.json"},
			want:  `testdata/errors/dup-key.json:5: JSON error: key "kind" is already defined at line 3`,
			file:  "testdata/errors/dup-key.json",
			line:  5,
		},
		{
			name:  "document without kind",
			paths: []string{"testdata/errors/no-kind.yaml"},
			want:  "testdata/errors/no-kind.yaml:8: object has no kind (every manifest object needs apiVersion, kind and metadata.name)",
			file:  "testdata/errors/no-kind.yaml",
			line:  8,
		},
		{
			name:  "document without metadata.name",
			paths: []string{"testdata/errors/no-name.yaml"},
			want:  "testdata/errors/no-name.yaml:1: Secret has no metadata.name (every manifest object needs apiVersion, kind and metadata.name)",
			file:  "testdata/errors/no-name.yaml",
			line:  1,
		},
		{
			name:  "List item without metadata.name",
			paths: []string{"testdata/errors/list-item.yaml"},
			want:  "testdata/errors/list-item.yaml:8: ConfigMap has no metadata.name (every manifest object needs apiVersion, kind and metadata.name)",
			file:  "testdata/errors/list-item.yaml",
			line:  8,
		},
		{
			name:  "document that is not a mapping",
			paths: []string{"testdata/errors/scalar.yaml"},
			want:  "testdata/errors/scalar.yaml:2: a Kubernetes object must be a mapping (apiVersion, kind, metadata, ...), got a string",
			file:  "testdata/errors/scalar.yaml",
			line:  2,
		},
		{
			name:  "content after the separator",
			paths: []string{"testdata/errors/separator.yaml"},
			want:  "testdata/errors/separator.yaml:5: only spaces or a comment may follow the document separator ---",
			file:  "testdata/errors/separator.yaml",
			line:  5,
		},
		{
			name:  "duplicate object names both sources",
			paths: []string{"testdata/errors/dup-a.yaml", "testdata/errors/dup-b.yaml"},
			want:  "testdata/errors/dup-b.yaml:7: duplicate object Deployment.apps prod/web: already defined at testdata/errors/dup-a.yaml:1",
			file:  "testdata/errors/dup-b.yaml",
			line:  7,
		},
		{
			name:  "no objects at all",
			paths: []string{"testdata/errors/empty.yaml", "testdata/errors/empty-dir"},
			want:  "no Kubernetes objects found in testdata/errors/empty.yaml, testdata/errors/empty-dir",
		},
		{
			name: "no paths",
			want: "no manifest paths given",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := manifest.Load(tt.paths)
			require.Error(t, err)
			assert.Nil(t, objs)
			assert.Equal(t, tt.want, err.Error())
			var merr *manifest.Error
			require.True(t, errors.As(err, &merr), "an *Error")
			assert.Equal(t, tt.file, merr.File)
			assert.Equal(t, tt.line, merr.Line)
		})
	}
}

func TestLoadKustomizeError(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kustomization.yml"), []byte("resources: [missing.yaml]\n"), 0o600))
	_, err := manifest.Load([]string{dir})
	var merr *manifest.Error
	require.ErrorAs(t, err, &merr)
	assert.Equal(t, dir, merr.File)
	assert.Equal(t, 0, merr.Line)
	assert.Contains(t, merr.Msg, "kustomize build: ")
	assert.Contains(t, merr.Msg, "missing.yaml")
}

func TestSourceString(t *testing.T) {
	assert.Equal(t, "k8s/deploy.yaml:12", manifest.Source{File: "k8s/deploy.yaml", Line: 12}.String())
	assert.Equal(t, "k8s/overlay (kustomization)", manifest.Source{File: "k8s/overlay", Kustomization: true}.String())
	assert.Equal(t, "k8s/deploy.yaml", manifest.Source{File: "k8s/deploy.yaml"}.String())
	assert.Equal(t, "a.yaml: boom", (&manifest.Error{File: "a.yaml", Msg: "boom"}).Error())
	assert.Equal(t, "a.yaml:3: boom", (&manifest.Error{File: "a.yaml", Line: 3, Msg: "boom"}).Error())
}

func FuzzLoadYAML(f *testing.F) {
	for _, p := range []string{"testdata/multi.yaml", "testdata/errors/syntax.yaml", "testdata/errors/list-item.yaml", "testdata/errors/separator.yaml"} {
		data, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("kind: List\nitems: [1, {kind: x}]\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "in.yaml")
		require.NoError(t, os.WriteFile(p, data, 0o600))
		objs, err := manifest.Load([]string{p})
		if err == nil {
			require.NotEmpty(t, objs)
			for _, o := range objs {
				require.NotEmpty(t, o.GetName())
				o.DeepCopy() // panics on values unstructured cannot hold
			}
		}
	})
}
