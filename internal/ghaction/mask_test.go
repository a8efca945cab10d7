package ghaction_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/ghaction"
)

func TestMaskable(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  bool
	}{
		{"abc", false}, {"true", false}, {"FALSE", false}, {"Yes", false}, {"on", false}, {"off", false},
		{"8080", false}, {"3600", false}, {"0.25", false}, {"1e9", false},
		{"erlmcp", false}, {"staging", false}, {"main", false}, {"dev-ops", false},
		{"rolled-back", true}, // a word of 8+ characters given as a secret stays a secret
		{"ab12", true}, {"Hunter2!", true}, {"xoxb-1-2", true}, {"ghp_16C7e42F292c6912E7710c838347Ae178B4a", true},
	} {
		assert.Equal(t, tc.want, ghaction.Maskable(tc.value), tc.value)
	}
}

// TestMaskNeverCorruptsOutputs: values that occur in ordinary text are not
// registered (::add-mask::) nor redacted; a credential still is; structural
// outputs are never redacted.
func TestMaskNeverCorruptsOutputs(t *testing.T) {
	const token = "tok-9f8e7d6c5b4a"
	spec := actionspec.Action{ID: "m", Outputs: []actionspec.Output{
		{Name: "status", Description: "d", Structural: true},
		{Name: "rolled-back", Description: "d", Structural: true},
		{Name: "image", Description: "d"},
		{Name: "reason", Description: "d"},
	}}
	r := newRunner(t, nil)
	code := ghaction.New(spec, ghaction.WithGetenv(func(k string) string { return r.env[k] }), ghaction.WithWriter(&r.out)).
		Run(context.Background(), func(ctx context.Context, rt *ghaction.Runtime) error {
			for _, v := range []string{"true", "erlmcp", "3", "rolled", "back", token} {
				rt.Mask(v)
			}
			rt.Infof("rolled back erlmcp to revision 3 (auth %s)", token)
			rt.SetOutput("status", "rolled-back")
			rt.SetOutput("rolled-back", "true")
			rt.SetOutput("image", "ghcr.io/acme/erlmcp:1.2.3")
			rt.SetOutput("reason", "crash loop; token "+token)
			rt.Summary().KeyValues([][2]string{{"status", "rolled-back"}, {"token", token}})
			return nil
		})
	require.Equal(t, ghaction.ExitOK, code, r.out.String())
	log := r.out.String()
	assert.Equal(t, 1, strings.Count(log, "::add-mask::"), "only the token is registered with the runner:\n%s", log)
	assert.Contains(t, log, "::add-mask::"+token)
	assert.Contains(t, log, "rolled back erlmcp to revision 3 (auth ***)")
	outputs := read(t, r.outputs)
	for _, want := range []string{"status<<ghadelimiter_erlmcp\nrolled-back\n", "rolled-back<<ghadelimiter_erlmcp\ntrue\n",
		"image<<ghadelimiter_erlmcp\nghcr.io/acme/erlmcp:1.2.3\n", "reason<<ghadelimiter_erlmcp\ncrash loop; token ***\n"} {
		assert.Contains(t, outputs, want)
	}
	summary := read(t, r.summary)
	assert.Contains(t, summary, "| **status** | rolled-back |")
	assert.Contains(t, summary, "| **token** | *** |")
	assert.NotContains(t, outputs+summary, token)

	// A structural output is not redacted even if a registered value occurs in it.
	r = newRunner(t, nil)
	code = ghaction.New(spec, ghaction.WithGetenv(func(k string) string { return r.env[k] }), ghaction.WithWriter(&r.out)).
		Run(context.Background(), func(ctx context.Context, rt *ghaction.Runtime) error {
			rt.Mask("rolled-back")
			rt.SetOutput("status", "rolled-back")
			rt.SetOutput("reason", "rolled-back")
			return nil
		})
	require.Equal(t, ghaction.ExitOK, code)
	outputs = read(t, r.outputs)
	assert.Contains(t, outputs, "status<<ghadelimiter_erlmcp\nrolled-back\n")
	assert.Contains(t, outputs, "reason<<ghadelimiter_erlmcp\n***\n")
}
