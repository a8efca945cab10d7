package ghaction

import (
	"maps"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/summary"
)

// Fork is a runtime for one target of this run (one kube context of a
// wave): spec's inputs read as this run reads them, overrides winning; the
// same masks and log; its lines carry prefix, and its groups are headed
// lines when flat (targets running side by side would interleave groups).
// Its outputs, summary and input errors are its own, for the caller to read.
func (r *Runtime) Fork(spec actionspec.Action, prefix string, flat bool, overrides map[string]string) *Runtime {
	ov := maps.Clone(r.overrides)
	if ov == nil {
		ov = map[string]string{}
	}
	maps.Copy(ov, overrides)
	return &Runtime{spec: spec, getenv: r.getenv, lookupEnv: r.lookupEnv, raw: r.raw, red: r.red, gha: r.gha, actions: r.actions,
		text: r.text, overrides: ov, defaults: maps.Clone(r.defaults), outputs: map[string]string{}, summary: summary.New(),
		parent: r, prefix: prefix, flat: flat}
}

// WithEnv makes r read env's values for those keys instead of its
// parent's environment (a fork's own RUNNER_TEMP, say), and returns r.
func (r *Runtime) WithEnv(env map[string]string) *Runtime {
	lookup := r.lookupEnv
	r.lookupEnv = func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		return lookup(k)
	}
	r.getenv = func(k string) string {
		v, _ := r.lookupEnv(k)
		return v
	}
	return r
}
