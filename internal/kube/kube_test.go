package kube_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/kube"
)

const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: staging
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
- name: prod
  cluster: {server: "https://127.0.0.2:6443", insecure-skip-tls-verify: true}
users:
- name: ci
  user: {token: s3cr3t-token}
contexts:
- name: staging
  context: {cluster: staging, user: ci}
- name: prod
  context: {cluster: prod, user: ci}
current-context: staging
`

func TestLoadOrder(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config")
	require.NoError(t, os.WriteFile(file, []byte(kubeconfig), 0o600))
	home := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(home, ".kube"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(home, ".kube", "config"), []byte(kubeconfig), 0o600))
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	tests := []struct {
		name, origin, host, context string
		src                         kube.Source
	}{
		{"input wins", "the kubeconfig input", "https://127.0.0.1:6443", "staging",
			kube.Source{Kubeconfig: kubeconfig, Getenv: env(map[string]string{"KUBECONFIG": "/nonexistent"})}},
		{"input with context", "the kubeconfig input", "https://127.0.0.2:6443", "prod",
			kube.Source{Kubeconfig: kubeconfig, Context: "prod", Getenv: env(nil)}},
		{"$KUBECONFIG", "$KUBECONFIG (" + file + ")", "https://127.0.0.1:6443", "staging",
			kube.Source{Getenv: env(map[string]string{"KUBECONFIG": file, "HOME": home})}},
		{"~/.kube/config", "~/.kube/config (" + filepath.Join(home, ".kube", "config") + ")", "https://127.0.0.1:6443", "staging",
			kube.Source{Getenv: env(map[string]string{"HOME": home})}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := kube.Load(tc.src)
			require.NoError(t, err)
			assert.Equal(t, tc.origin, c.Origin)
			assert.Equal(t, tc.host, c.Config.Host)
			assert.Equal(t, tc.context, c.Context)
			assert.Equal(t, "s3cr3t-token", c.Config.BearerToken)
			require.Len(t, c.Kubeconfigs, 1, "its content is returned for masking")
			assert.Contains(t, c.Kubeconfigs[0], "s3cr3t-token")
		})
	}
}

func TestLoadErrors(t *testing.T) {
	_, err := kube.Load(kube.Source{Kubeconfig: kubeconfig, Context: "dev", Getenv: func(string) string { return "" }})
	assert.EqualError(t, err, `kubeconfig from the kubeconfig input has no context "dev"; its contexts are prod, staging`)

	_, err = kube.Load(kube.Source{Kubeconfig: "{{ not yaml", Getenv: func(string) string { return "" }})
	assert.ErrorContains(t, err, "the kubeconfig input is not a valid kubeconfig")

	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	_, err = kube.Load(kube.Source{Getenv: func(k string) string { return map[string]string{"HOME": t.TempDir()}[k] }})
	assert.ErrorIs(t, err, kube.ErrNoCredentials)
}
