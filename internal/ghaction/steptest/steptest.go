// Package steptest runs an action in-process with the environment a GitHub
// Actions runner gives a step, and reads back what the step left: exit code,
// log, outputs and job summary. For the adapters' tests.
package steptest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/ghaction"
)

// Step is what one run of an action left.
type Step struct {
	Code                  int
	Log, Outputs, Summary string
}

// Run runs fn as the action spec with GITHUB_ACTIONS=true, temporary
// GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files and RUNNER_TEMP, the given
// extra environment, and inputs as INPUT_<NAME> variables. Like the runner
// with a composite action, it sets INPUT_<NAME> for every declared input: the
// given value, else the default action.yml declares (empty for most inputs;
// expression defaults such as ${{ github.token }} are passed as "").
func Run(t testing.TB, spec actionspec.Action, fn ghaction.RunFunc, inputs, extra map[string]string) Step {
	t.Helper()
	return RunContext(context.Background(), t, spec, fn, inputs, extra)
}

// RunContext is Run under ctx (a test cancels it to cancel the run).
func RunContext(parent context.Context, t testing.TB, spec actionspec.Action, fn ghaction.RunFunc, inputs, extra map[string]string) Step {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": filepath.Join(dir, "out"),
		"GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary"), "RUNNER_TEMP": dir}
	for k, v := range extra {
		env[k] = v
	}
	for _, in := range spec.Inputs {
		if in.ActionDefault == "" {
			env[ghaction.EnvName(in.Name)] = in.RunnerDefault()
		} else {
			env[ghaction.EnvName(in.Name)] = ""
		}
	}
	for k, v := range inputs {
		env[ghaction.EnvName(k)] = v
	}
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(parent, 4*time.Minute)
	defer cancel()
	lookup := func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
	code := ghaction.New(spec, ghaction.WithLookupEnv(lookup), ghaction.WithWriter(&log)).Run(ctx, fn)
	out, _ := os.ReadFile(env["GITHUB_OUTPUT"])
	sum, _ := os.ReadFile(env["GITHUB_STEP_SUMMARY"])
	return Step{Code: code, Log: log.String(), Outputs: string(out), Summary: string(sum)}
}

// Output returns the value of one output, or "<unset>".
func (s Step) Output(name string) string {
	i := strings.Index(s.Outputs, name+"<<")
	if i < 0 {
		return "<unset>"
	}
	rest := s.Outputs[i:]
	nl := strings.Index(rest, "\n")
	delim, body := rest[len(name)+2:nl], rest[nl+1:]
	return strings.TrimSuffix(body[:strings.Index(body, delim)], "\n")
}

// Leaks lists where secret appears other than in its own ::add-mask:: command.
func (s Step) Leaks(secret string) []string {
	var where []string
	if strings.Contains(strings.ReplaceAll(s.Log, "::add-mask::"+secret, ""), secret) {
		where = append(where, "log")
	}
	if strings.Contains(s.Outputs, secret) {
		where = append(where, "outputs")
	}
	if strings.Contains(s.Summary, secret) {
		where = append(where, "summary")
	}
	return where
}
