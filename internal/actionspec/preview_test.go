package actionspec_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/preview"
)

func TestPreviewContract(t *testing.T) {
	p := actionspec.Preview()
	require.NoError(t, p.Validate())
	_, listed := actionspec.ByID("preview")
	assert.True(t, listed, "listed in All(): actions/preview, its binary and the CLI subcommand exist")

	// The deploy action's inputs that apply keep their names, kinds and defaults.
	deploy := actionspec.Deploy()
	for _, name := range []string{"manifests", "image", "images", "timeout", "crashloop-restarts", "image-pull-grace",
		"unschedulable-grace", "kubeconfig", "context", "github-token", "dry-run",
		"slack-token", "slack-channel", "slack-thread", "slack-webhook", "slack-mention"} {
		got, ok := p.Input(name)
		require.True(t, ok, name)
		want, ok := deploy.Input(name)
		require.True(t, ok, name)
		assert.Equal(t, want.Kind, got.Kind, name)
		assert.Equal(t, want.Default, got.Default, name)
		assert.Equal(t, want.Secret, got.Secret, name)
	}
	for _, name := range []string{"namespace", "url", "status", "failure-cause"} {
		_, ok := p.Output(name)
		assert.True(t, ok, name)
	}
	cmd, _ := p.Input("command")
	var verbs []string
	for _, v := range preview.Verbs() {
		verbs = append(verbs, string(v))
	}
	assert.Equal(t, verbs, cmd.Values)

	// The quota and LimitRange defaults are the preview package's.
	d := preview.DefaultLimits()
	for name, want := range map[string]string{"quota-pods": d.Pods, "quota-requests-cpu": d.RequestsCPU,
		"quota-requests-memory": d.RequestsMemory, "quota-limits-cpu": d.LimitsCPU, "quota-limits-memory": d.LimitsMemory,
		"default-request-cpu": d.DefaultRequestCPU, "default-request-memory": d.DefaultRequestMemory,
		"default-limit-cpu": d.DefaultCPU, "default-limit-memory": d.DefaultMemory} {
		in, ok := p.Input(name)
		require.True(t, ok, name)
		assert.Equal(t, want, in.Default, name)
	}
	env, _ := p.Input("environment-prefix")
	assert.Equal(t, preview.DefaultEnvironmentPrefix, env.Default)

	// It renders as an action.yml the runner can read.
	b, err := p.ActionYAML()
	require.NoError(t, err)
	var f actionFile
	require.NoError(t, yaml.Unmarshal(b, &f))
	assert.Len(t, f.Inputs, len(p.Inputs))
	assert.Len(t, f.Outputs, len(p.Outputs))
	assert.Equal(t, "${{ github.token }}", *f.Inputs["github-token"].Default)
}
