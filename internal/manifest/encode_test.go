package manifest_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/org/erlmcp-deploy/internal/manifest"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	objs, err := manifest.Load([]string{"testdata/multi.yaml", "testdata/workloads.yaml", "testdata/list.json"})
	require.NoError(t, err)
	var in []*unstructured.Unstructured
	for _, o := range objs {
		in = append(in, o.Unstructured)
	}
	data, err := manifest.Encode(in)
	require.NoError(t, err)
	out, err := manifest.Decode(data)
	require.NoError(t, err)
	assert.Equal(t, in, out)

	again, err := manifest.Encode(out)
	require.NoError(t, err)
	assert.Equal(t, string(data), string(again))
}

func TestEncode(t *testing.T) {
	data, err := manifest.Encode([]*unstructured.Unstructured{
		{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "a"}}},
		{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "b"}, "data": map[string]any{"k": "---"}}},
	})
	require.NoError(t, err)
	assert.Equal(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\ndata:\n  k: '---'\nkind: ConfigMap\nmetadata:\n  name: b\n", string(data))

	empty, err := manifest.Encode(nil)
	require.NoError(t, err)
	assert.Empty(t, empty)
	decoded, err := manifest.Decode(empty)
	require.NoError(t, err)
	assert.Empty(t, decoded)
}

func TestDecodeErrors(t *testing.T) {
	_, err := manifest.Decode([]byte("a: 1\n---\nb: [\n"))
	assert.EqualError(t, err, "decode manifests: line 3: YAML syntax error: did not find expected node content")
	_, err = manifest.Decode([]byte("a: 1\n---\n- b\n"))
	assert.EqualError(t, err, "decode manifests: line 3: a Kubernetes object must be a mapping (apiVersion, kind, metadata, ...), got a list")
}
