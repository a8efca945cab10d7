package ghaction_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/ghaction"
)

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"0", "90", "1.5", "5m", "1h30m", "-1s", "1e300", "NaN", "Inf", "5 minutes", "", "9223372036s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := ghaction.ParseDuration(s); err == nil && d < 0 {
			t.Fatalf("ParseDuration(%q) = %s: negative durations must be refused", s, d)
		}
	})
}

// FuzzInputs feeds arbitrary values to the inputs of every action (which
// picks one): the runtime never panics, and a refused value is an ::error
// naming that input.
func FuzzInputs(f *testing.F) {
	for i, s := range []string{"true", "maybe", "10m", "-3", "3.5", "1e9", "a\nb", "x, y,,z", "%", "∞", "\x00", "NaN"} {
		f.Add(s, uint16(i*7))
	}
	var all []struct {
		spec actionspec.Action
		in   actionspec.Input
	}
	for _, a := range actionspec.All() {
		for _, in := range a.Inputs {
			all = append(all, struct {
				spec actionspec.Action
				in   actionspec.Input
			}{a, in})
		}
	}
	f.Fuzz(func(t *testing.T, value string, which uint16) {
		pick := all[int(which)%len(all)]
		a, in := pick.spec, pick.in
		env := map[string]string{"GITHUB_ACTIONS": "true"}
		for _, other := range a.Inputs {
			if other.Required {
				env[ghaction.EnvName(other.Name)] = "x"
			}
		}
		env[ghaction.EnvName(in.Name)] = value
		var out bytes.Buffer
		code := ghaction.New(a, ghaction.WithGetenv(func(k string) string { return env[k] }), ghaction.WithWriter(&out)).
			Run(context.Background(), func(ctx context.Context, rt *ghaction.Runtime) error { return rt.ValidateAll() })
		if code != ghaction.ExitOK && code != ghaction.ExitBadInput {
			t.Fatalf("%s %s=%q: exit %d", a.ID, in.Name, value, code)
		}
		if code == ghaction.ExitBadInput && !strings.Contains(out.String(), "::error title=Invalid input "+in.Name+"::") {
			t.Fatalf("%s %s=%q: refused without an ::error naming the input:\n%s", a.ID, in.Name, value, out.String())
		}
	})
}
