// Package ghaction is the one adapter between our engines and GitHub Actions.
//
// It wraps github.com/sethvargo/go-githubactions: typed, validated inputs read
// from CLI flags, INPUT_<NAME> variables, a config file and declared defaults;
// outputs; the step summary; log groups; masking of secrets; a context that is
// cancelled on SIGINT/SIGTERM; and exit codes. Outside GitHub Actions it prints
// plain text, so the CLI on a laptop runs the very same code.
package ghaction

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	githubactions "github.com/sethvargo/go-githubactions"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/summary"
	"github.com/org/erlmcp-deploy/internal/ui"
)

// Exit codes of every action binary and CLI subcommand.
const (
	ExitOK        = 0
	ExitFailed    = 1
	ExitBadInput  = 2
	ExitCancelled = 130
)

// RunFunc is the body of one action.
type RunFunc func(ctx context.Context, rt *Runtime) error

// Runtime is one run of an action: inputs, outputs, summary, logs and masks.
type Runtime struct {
	spec      actionspec.Action
	getenv    func(string) string
	lookupEnv func(string) (string, bool)
	raw       io.Writer
	red       *redactor
	gha       *githubactions.Action
	actions   bool
	text      *ui.Text
	overrides map[string]string
	defaults  map[string]string
	inputErrs []*InputError

	mu       sync.Mutex
	outputs  map[string]string
	outOrder []string
	summary  *summary.Summary
	depth    int

	// parent, prefix and flat: a Fork's log goes through its parent.
	parent *Runtime
	prefix string
	flat   bool
}

// Option configures a Runtime.
type Option func(*Runtime)

// WithGetenv replaces os.Getenv (tests inject a map). An empty value counts
// as not set; use WithLookupEnv to tell a variable set to "" from an absent one.
func WithGetenv(getenv func(string) string) Option {
	return func(r *Runtime) {
		r.getenv = getenv
		r.lookupEnv = func(k string) (string, bool) {
			v := getenv(k)
			return v, v != ""
		}
	}
}

// WithLookupEnv replaces os.LookupEnv (and os.Getenv with it).
func WithLookupEnv(lookup func(string) (string, bool)) Option {
	return func(r *Runtime) {
		r.lookupEnv = lookup
		r.getenv = func(k string) string {
			v, _ := lookup(k)
			return v
		}
	}
}

// WithWriter replaces os.Stdout as the log destination.
func WithWriter(w io.Writer) Option {
	return func(r *Runtime) { r.raw = w }
}

// WithOverrides sets input values that win over everything (CLI flags).
func WithOverrides(values map[string]string) Option {
	return func(r *Runtime) { r.overrides = values }
}

// New returns the runtime of the action described by spec.
func New(spec actionspec.Action, opts ...Option) *Runtime {
	r := &Runtime{spec: spec, getenv: os.Getenv, lookupEnv: os.LookupEnv, raw: os.Stdout, outputs: map[string]string{}, summary: summary.New()}
	for _, o := range opts {
		o(r)
	}
	r.red = &redactor{w: r.raw}
	r.gha = githubactions.New(githubactions.WithWriter(r.red), githubactions.WithGetenv(r.getenv))
	r.actions = r.getenv("GITHUB_ACTIONS") == "true"
	r.text = ui.NewText(r.red, r.Debugging())
	return r
}

// Spec returns the action's declaration.
func (r *Runtime) Spec() actionspec.Action { return r.spec }

// Getenv reads the environment the runtime was given.
func (r *Runtime) Getenv(key string) string { return r.getenv(key) }

// InActions reports whether the process runs as a GitHub Actions step.
func (r *Runtime) InActions() bool { return r.actions }

// Debugging reports whether debug lines are shown (RUNNER_DEBUG=1 or ERLMCP_DEBUG=1).
func (r *Runtime) Debugging() bool {
	return r.getenv("RUNNER_DEBUG") == "1" || r.getenv("ERLMCP_DEBUG") == "1"
}

// Default is one config-file value for an input and the line it is written on.
type Default struct {
	Value string
	Line  int
}

// SetDefaults makes values (the config file's entry for this run) the
// defaults of this action's inputs. One file serves every action, so a key
// that only other actions declare (deploy's fail-fast, smoke's base-url,
// rollback's to) is ignored with a debug line. A key that no action reading
// the file declares is recorded as an invalid `config` input pointing at file
// and line, with the accepted keys.
func (r *Runtime) SetDefaults(file string, values map[string]Default) {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		li, lj := values[keys[i]].Line, values[keys[j]].Line
		return li < lj || (li == lj && keys[i] < keys[j])
	})
	defaults := make(map[string]string, len(values))
	for _, k := range keys {
		d := values[k]
		if _, ok := r.spec.Input(k); ok {
			defaults[k] = d.Value
			continue
		}
		if owners := actionspec.ConfigKeyOwners(k); len(owners) > 0 {
			r.Debugf("%s:%d: %s is an input of %s, not of %s: ignored here", file, d.Line, k, strings.Join(owners, ", "), r.spec.ID)
			continue
		}
		reason := fmt.Sprintf("%s:%d: unknown key %q: no action reading this file has such an input", file, d.Line, k)
		if near := nearest(k, actionspec.ConfigKeys()); near != "" {
			reason += fmt.Sprintf(" (did you mean %q?)", near)
		}
		reason += "; accepted keys: " + strings.Join(actionspec.ConfigKeys(), ", ")
		r.inputErrs = append(r.inputErrs, &InputError{Name: "config", Reason: reason, File: file, Line: d.Line})
	}
	r.defaults = defaults
}

// DefaultTo makes value the input's value when the run did not give it (no
// flag, INPUT_ variable or config file): a default that depends on the
// environment, such as the kube context's namespace.
func (r *Runtime) DefaultTo(name, value string) {
	if r.Has(name) {
		return
	}
	if r.defaults == nil {
		r.defaults = map[string]string{}
	}
	r.defaults[name] = value
}

// nearest is the candidate within two edits of s (the closest; "" when none).
func nearest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Mask hides value (and each of its lines) in every later log line, output and summary.
func (r *Runtime) Mask(value string) {
	for _, v := range append([]string{value}, strings.Split(value, "\n")...) {
		r.maskValue(v)
	}
}

// MinMaskLen is the shortest value Mask hides.
const MinMaskLen = 4

// shortWord is a lowercase word (or words joined by - _ .) short enough to
// occur inside ordinary text: erlmcp, staging, main, rolled-back.
var shortWord = regexp.MustCompile(`^[a-z]+([-_.][a-z]+)*$`)

// Maskable reports whether Mask hides v. A masked value is replaced wherever
// it occurs — log lines, outputs (GitHub drops a job output containing one),
// the summary — so values that occur in ordinary text and cannot be
// credentials are not masked: fewer than MinMaskLen characters, booleans
// (true/false/yes/no/on/off in any case), numbers, and lowercase words of
// fewer than 8 characters.
func Maskable(v string) bool {
	v = strings.TrimSpace(v)
	if len(v) < MinMaskLen {
		return false
	}
	switch strings.ToLower(v) {
	case "true", "false", "yes", "no", "on", "off":
		return false
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return false
	}
	return len(v) >= 8 || !shortWord.MatchString(v)
}

// maskValue hides one exact value, unless it is not Maskable.
func (r *Runtime) maskValue(v string) {
	v = strings.TrimSpace(v)
	if !Maskable(v) || !r.red.add(v) {
		return
	}
	if r.actions {
		// The runner needs the clear value; write it past the redactor.
		githubactions.New(githubactions.WithWriter(r.raw)).AddMask(v)
	}
}

// Redact replaces every masked value in s with ***.
func (r *Runtime) Redact(s string) string { return r.red.redact(s) }

// Infof prints a plain line.
func (r *Runtime) Infof(format string, args ...any) {
	if r.parent != nil {
		r.parent.Infof(r.prefix+format, args...)
		return
	}
	if r.actions {
		r.gha.Infof(ensureNL(format), args...)
		return
	}
	r.text.Infof(format, args...)
}

// Warnf prints a warning annotation.
func (r *Runtime) Warnf(format string, args ...any) {
	if r.parent != nil {
		r.parent.Warnf(r.prefix+format, args...)
		return
	}
	if r.actions {
		r.gha.Warningf(format, args...)
		return
	}
	r.text.Warnf(format, args...)
}

// Errorf prints an error annotation; it does not end the program.
func (r *Runtime) Errorf(format string, args ...any) {
	if r.parent != nil {
		r.parent.Errorf(r.prefix+format, args...)
		return
	}
	if r.actions {
		r.gha.Errorf(format, args...)
		return
	}
	r.text.Errorf(format, args...)
}

// Debugf prints a debug line.
func (r *Runtime) Debugf(format string, args ...any) {
	if r.parent != nil {
		r.parent.Debugf(r.prefix+format, args...)
		return
	}
	if r.actions {
		r.gha.Debugf(format, args...)
		return
	}
	r.text.Debugf(format, args...)
}

// Group starts a collapsible log group; nested groups become headed lines
// because the runner does not nest them.
func (r *Runtime) Group(title string) func() {
	if r.parent != nil {
		if r.flat {
			r.parent.Infof("%s── %s ──", r.prefix, title)
			return func() {}
		}
		return r.parent.Group(r.prefix + title)
	}
	if !r.actions {
		return r.text.Group(title)
	}
	r.mu.Lock()
	r.depth++
	nested := r.depth > 1
	r.mu.Unlock()
	if nested {
		r.gha.Infof("── %s ──\n", title)
	} else {
		r.gha.Group(title)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			r.depth--
			r.mu.Unlock()
			if !nested {
				r.gha.EndGroup()
			}
		})
	}
}

var _ ui.Logger = (*Runtime)(nil)

// SetOutput records a declared output; values are redacted, except those of
// Structural outputs (a status word, a number, a boolean the action computes),
// which are never masked.
func (r *Runtime) SetOutput(name, value string) {
	var out *actionspec.Output
	for i := range r.spec.Outputs {
		if r.spec.Outputs[i].Name == name {
			out = &r.spec.Outputs[i]
		}
	}
	if out == nil {
		panic(fmt.Sprintf("ghaction: action %s sets undeclared output %q", r.spec.ID, name))
	}
	if !out.Structural {
		value = r.red.redact(value)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.outputs[name]; !ok {
		r.outOrder = append(r.outOrder, name)
	}
	r.outputs[name] = value
}

// Outputs returns the outputs set so far.
func (r *Runtime) Outputs() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]string, len(r.outputs))
	for k, v := range r.outputs {
		out[k] = v
	}
	return out
}

// Summary is the markdown appended to the job summary when the run ends.
func (r *Runtime) Summary() *summary.Summary { return r.summary }

// Run executes fn and returns the exit code after writing outputs and summary.
func (r *Runtime) Run(ctx context.Context, fn RunFunc) (code int) {
	err := r.InputErr()
	if err == nil {
		err = fn(ctx, r)
	}
	defer func() {
		if ferr := r.flush(); ferr != nil {
			r.Errorf("%v", ferr)
			if code == ExitOK {
				code = ExitFailed
			}
		}
	}()
	if err == nil {
		return ExitOK
	}
	if ies, ok := AsInputErrors(err); ok {
		for _, ie := range ies {
			r.inputError(ie)
		}
		return ExitBadInput
	}
	msg := r.red.redact(err.Error())
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		r.Errorf("cancelled: %s", msg)
		return ExitCancelled
	}
	r.Errorf("%s", msg)
	return ExitFailed
}

func (r *Runtime) inputError(ie *InputError) {
	why := ie.Reason
	if ie.Accepted != "" {
		why += "; accepted values: " + ie.Accepted
	}
	if r.actions {
		fields := map[string]string{"title": "Invalid input " + ie.Name}
		if ie.File != "" {
			fields["file"] = ie.File
			if ie.Line > 0 {
				fields["line"] = strconv.Itoa(ie.Line)
			}
		}
		r.gha.WithFieldsMap(fields).Errorf("%s", why)
		return
	}
	r.text.Errorf("invalid input %s: %s", ie.Name, why)
}

// flush writes outputs and the summary where the environment wants them.
func (r *Runtime) flush() error {
	r.mu.Lock()
	names := append([]string(nil), r.outOrder...)
	r.mu.Unlock()
	if path := r.getenv("GITHUB_OUTPUT"); path != "" {
		for _, n := range names {
			if err := appendFile(path, fileCommand(n, r.outputs[n])); err != nil {
				return fmt.Errorf("write output %s: %w", n, err)
			}
		}
	} else if len(names) > 0 {
		fmt.Fprintln(r.red, "outputs:")
		for _, n := range names {
			fmt.Fprintf(r.red, "  %s=%s\n", n, oneLineOutput(r.outputs[n]))
		}
	}
	if path := r.getenv("GITHUB_STEP_SUMMARY"); path != "" && r.summary.Len() > 0 {
		// Redacted block by block before the cut, so a cut never leaves part
		// of a secret; cut to stay under GitHub's 1 MiB.
		blocks := r.summary.Blocks()
		for i, b := range blocks {
			blocks[i] = r.red.redact(b)
		}
		if err := appendFile(path, summary.Join(blocks, summary.MaxBytes)); err != nil {
			return fmt.Errorf("write step summary: %w", err)
		}
	}
	return nil
}

func oneLineOutput(v string) string {
	if strings.Contains(v, "\n") {
		return strconv.Quote(v)
	}
	return v
}

// fileCommand renders name<<delimiter\nvalue\ndelimiter with a delimiter that
// cannot occur in value.
func fileCommand(name, value string) string {
	delim := "ghadelimiter_erlmcp"
	for i := 0; strings.Contains(value, delim); i++ {
		delim = fmt.Sprintf("ghadelimiter_erlmcp_%d", i)
	}
	return fmt.Sprintf("%s<<%s\n%s\n%s\n", name, delim, value, delim)
}

func appendFile(path, content string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func ensureNL(format string) string {
	if strings.HasSuffix(format, "\n") {
		return format
	}
	return format + "\n"
}

// SignalContext returns a context cancelled on SIGINT or SIGTERM, so work can
// wind down (release locks, report state) before the runner kills the process.
func SignalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

// Main runs fn as the action spec with the process environment and returns the exit code.
func Main(spec actionspec.Action, fn RunFunc, opts ...Option) int {
	ctx, stop := SignalContext(context.Background())
	defer stop()
	return New(spec, opts...).Run(ctx, fn)
}

// redactor replaces masked values in everything written through it.
type redactor struct {
	mu      sync.Mutex
	w       io.Writer
	secrets []string
}

func (r *redactor) add(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.secrets {
		if x == s {
			return false
		}
	}
	r.secrets = append(r.secrets, s)
	sort.Slice(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
	return true
}

func (r *redactor) redact(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.secrets {
		s = strings.ReplaceAll(s, x, "***")
	}
	return s
}

func (r *redactor) Write(p []byte) (int, error) {
	if _, err := io.WriteString(r.w, r.redact(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
