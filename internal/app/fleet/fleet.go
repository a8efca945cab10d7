// Package fleet runs the deploy and rollback actions over several kube
// contexts (the contexts input): it checks the contexts, forks the runtime
// for each one, collects what each run left and publishes the whole.
package fleet

import (
	"fmt"
	"hash/fnv"
	"path/filepath"
	"regexp"
	"sync"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/app/setup"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/kube"
	render "github.com/org/erlmcp-deploy/internal/report"
	"github.com/org/erlmcp-deploy/internal/waves"
)

// ContextsAccepted says what the contexts input takes.
const ContextsAccepted = "kubeconfig contexts, one wave per line, the contexts of a wave comma-separated"

// Targets reads the contexts input and checks every context against the
// kubeconfig before anything changes: the waves and each context's
// namespace (the namespace input when given, else the context's, else the
// input's default). Problems are
// recorded as invalid inputs.
func Targets(rt *ghaction.Runtime) ([][]string, map[string]string) {
	plan, err := waves.Parse(rt.String("contexts"))
	if err != nil {
		rt.Invalid("contexts", err.Error(), ContextsAccepted)
		return nil, nil
	}
	if rt.String("context") != "" {
		rt.Invalid("context", "is replaced by contexts (give one or the other)", "empty when contexts is set")
	}
	ns := map[string]string{}
	for _, w := range plan {
		for _, c := range w {
			kc, err := kube.Load(kube.Source{Kubeconfig: rt.String("kubeconfig"), Context: c, Getenv: rt.Getenv})
			if err != nil {
				rt.Invalid("contexts", err.Error(), ContextsAccepted)
				return nil, nil
			}
			for _, k := range kc.Kubeconfigs {
				rt.MaskKubeconfig(k)
			}
			ns[c] = rt.String("namespace") // as kubectl: the run's namespace, else the context's, else the default
			if !rt.Has("namespace") && kc.Namespace != "" {
				ns[c] = kc.Namespace
			}
		}
	}
	return plan, ns
}

// Overrides are the inputs a context's own run gets: its context and
// namespace, and no Slack or GitHub of its own (the whole run reports once).
func Overrides(context, namespace string) map[string]string {
	return map[string]string{"context": context, "namespace": namespace, "contexts": "", "slack-token": "", "slack-webhook": "", "github-token": ""}
}

// Fork is the runtime of t's own run of spec: its lines prefixed with the
// context, groups flattened when its wave runs several contexts side by
// side, and its files (a deploy's backup of the serving template) in a
// directory of its own under $RUNNER_TEMP, so contexts running side by side
// never write the same file.
func Fork(rt *ghaction.Runtime, spec actionspec.Action, plan [][]string, t waves.Target, namespaces map[string]string) *ghaction.Runtime {
	child := rt.Fork(spec, "["+t.Context+"] ", len(plan[t.Wave-1]) > 1, Overrides(t.Context, namespaces[t.Context]))
	return child.WithEnv(map[string]string{"RUNNER_TEMP": filepath.Join(setup.TempDir(rt), ContextDir(t.Context))})
}

// Lane names t's part of the run's timeline: its context and wave.
func Lane(t waves.Target) string { return fmt.Sprintf("%s (wave %d)", t.Context, t.Wave) }

// unsafeInFileName are the characters a context name may hold (: and @)
// that some file systems refuse.
var unsafeInFileName = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// ContextDir is the directory of a context's files: erlmcp-deploy-<context>,
// with a hash of the name when characters had to be replaced (so two
// contexts never share one).
func ContextDir(context string) string {
	safe := unsafeInFileName.ReplaceAllString(context, "_")
	if safe != context {
		h := fnv.New32a()
		_, _ = h.Write([]byte(context))
		safe += fmt.Sprintf("-%08x", h.Sum32())
	}
	return "erlmcp-deploy-" + safe
}

// Reports collects, from contexts running side by side, each one's job
// summary and input errors.
type Reports struct {
	mu        sync.Mutex
	details   map[string]string
	inputErrs ghaction.InputErrors
	refused   int // contexts whose run found bad input
}

// Add records the run of context in child, which ended with err.
func (r *Reports) Add(context string, child *ghaction.Runtime, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.details == nil {
		r.details = map[string]string{}
	}
	r.details[context] = child.Summary().String()
	if ie, bad := ghaction.AsInputErrors(err); bad {
		r.inputErrs = append(r.inputErrs, ie...)
		r.refused++
	}
}

// Refused is how many contexts' runs found bad input.
func (r *Reports) Refused() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refused
}

// Details are the contexts' job summaries, by context.
func (r *Reports) Details() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.details
}

// InputErrors are the input problems the contexts' runs found.
func (r *Reports) InputErrors() ghaction.InputErrors {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inputErrs
}

// Publish writes a run over several contexts: the outputs rt's action
// declares (the rollback action has fewer than deploy), and the summary.
func Publish(rt *ghaction.Runtime, out render.Rendered) {
	for _, kv := range out.Outputs {
		if _, ok := rt.Spec().Output(kv[0]); ok {
			rt.SetOutput(kv[0], kv[1])
		}
	}
	rt.Summary().Para(out.Summary.String())
}
