package manifest_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/org/erlmcp-deploy/internal/manifest"
)

// obj decodes one YAML object for a test.
func obj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	objs, err := manifest.Decode([]byte(y))
	require.NoError(t, err)
	require.Len(t, objs, 1)
	return objs[0]
}

const liveConfigMap = `
apiVersion: v1
kind: ConfigMap
metadata:
  name: erlmcp-config
  namespace: erlmcp
  uid: 0b6a4f1e-1
  resourceVersion: "41"
  creationTimestamp: "2026-12-01T10:00:00Z"
  managedFields: [{manager: erlmcp-deploy, operation: Apply}]
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"old": true}'
data:
  sys.config: "[{erlmcp, [{port, 8080}]}]."
  vm.args: "-name erlmcp"
`

const liveDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: erlmcp
  generation: 7
  annotations: {deployment.kubernetes.io/revision: "7"}
spec:
  replicas: 3
  template:
    spec:
      containers:
        - name: proxy
          image: nginx:1.25.3
        - name: erlmcp
          image: ghcr.io/acme/erlmcp:1.0.0
          args: [foreground, -v]
status:
  replicas: 3
  readyReplicas: 3
`

func TestDiff(t *testing.T) {
	long := strings.Repeat("x", 100)
	tests := []struct {
		name          string
		live, desired string
		want          []manifest.Change
	}{
		{
			name: "ConfigMap data changed, server-managed metadata ignored",
			live: liveConfigMap,
			desired: strings.NewReplacer(`8080`, `9090`, `resourceVersion: "41"`, `resourceVersion: "42"`,
				`'{"old": true}'`, `'{"new": true}'`).Replace(liveConfigMap),
			want: []manifest.Change{{Path: "data.sys.config", From: "[{erlmcp, [{port, 8080}]}].", To: "[{erlmcp, [{port, 9090}]}]."}},
		},
		{
			name:    "ConfigMap key added and removed, long value truncated",
			live:    liveConfigMap,
			desired: strings.Replace(liveConfigMap, `vm.args: "-name erlmcp"`, `extra: "`+long+`"`, 1),
			want: []manifest.Change{
				{Path: "data.extra", To: strings.Repeat("x", 79) + "…"},
				{Path: "data.vm.args", From: "-name erlmcp"},
			},
		},
		{
			name: "container image changed, matched by name even when the order changed; status and revision ignored",
			live: liveDeployment,
			desired: strings.NewReplacer(
				"        - name: proxy\n          image: nginx:1.25.3\n", "",
				"[foreground, -v]", "[foreground, -v]\n        - name: proxy\n          image: nginx:1.25.3",
				"erlmcp:1.0.0", "erlmcp:1.1.0", `revision: "7"`, `revision: "8"`, "generation: 7", "generation: 8",
				"readyReplicas: 3", "readyReplicas: 0",
			).Replace(liveDeployment),
			want: []manifest.Change{{
				Path: "spec.template.spec.containers[name=erlmcp].image",
				From: "ghcr.io/acme/erlmcp:1.0.0", To: "ghcr.io/acme/erlmcp:1.1.0",
			}},
		},
		{
			name:    "container added, list of scalars by index, number changed",
			live:    liveDeployment,
			desired: strings.NewReplacer("[foreground, -v]", "[foreground, -vv]\n        - {name: sidecar, image: busybox:1}", "replicas: 3\n  template", "replicas: 4\n  template").Replace(liveDeployment),
			want: []manifest.Change{
				{Path: "spec.replicas", From: "3", To: "4"},
				{Path: "spec.template.spec.containers[name=erlmcp].args[1]", From: "-v", To: "-vv"},
				{Path: "spec.template.spec.containers[name=sidecar]", To: `{"image":"busybox:1","name":"sidecar"}`},
			},
		},
		{
			name: "Secret values are never shown",
			live: `{apiVersion: v1, kind: Secret, metadata: {name: s}, type: Opaque, data: {password: aHVudGVyMg==, same: eA==}}`,
			desired: `{apiVersion: v1, kind: Secret, metadata: {name: s, labels: {app: x}}, type: Opaque,
				data: {password: c3dvcmRmaXNo, same: eA==, token: dG9r}, stringData: {plain: text}}`,
			want: []manifest.Change{
				{Path: "data.password", From: "(secret value changed)", To: "(secret value changed)"},
				{Path: "data.token", From: "(secret value changed)", To: "(secret value changed)"},
				{Path: "metadata.labels", To: `{"app":"x"}`},
				{Path: "stringData", From: "(secret value changed)", To: "(secret value changed)"},
			},
		},
		{
			name:    "no change",
			live:    liveDeployment,
			desired: liveDeployment,
		},
		{
			name:    "only ignored fields differ",
			live:    liveConfigMap,
			desired: "{apiVersion: v1, kind: ConfigMap, metadata: {name: erlmcp-config, namespace: erlmcp}, data: {sys.config: '[{erlmcp, [{port, 8080}]}].', vm.args: '-name erlmcp'}, status: {x: 1}}",
		},
		{
			name:    "multi-line string and empty string",
			live:    "{apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {a: \"one\\ntwo\", b: x}}",
			desired: "{apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {a: \"one\\nthree\", b: ''}}",
			want: []manifest.Change{
				{Path: "data.a", From: `one\ntwo`, To: `one\nthree`},
				{Path: "data.b", From: "x", To: `""`},
			},
		},
		{
			name:    "type change",
			live:    "{apiVersion: v1, kind: ConfigMap, metadata: {name: c, labels: {a: b}}}",
			desired: "{apiVersion: v1, kind: ConfigMap, metadata: {name: c, labels: [a]}}",
			want:    []manifest.Change{{Path: "metadata.labels", From: `{"a":"b"}`, To: `["a"]`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := manifest.Diff(obj(t, tt.live), obj(t, tt.desired))
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDiffDoesNotChangeInputs(t *testing.T) {
	live, desired := obj(t, liveConfigMap), obj(t, liveDeployment)
	liveCopy, desiredCopy := live.DeepCopy(), desired.DeepCopy()
	require.NotEmpty(t, manifest.Diff(live, desired))
	assert.Equal(t, liveCopy, live)
	assert.Equal(t, desiredCopy, desired)
}
