package ghaction

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/org/erlmcp-deploy/internal/actionspec"
)

// InputError says why one input's value was refused.
type InputError struct {
	Name     string
	Reason   string
	Accepted string
	// File and Line locate the problem when it is in a file (the config
	// file); the annotation then points at that line.
	File string
	Line int
}

// Error formats the problem the way --help users read it.
func (e *InputError) Error() string {
	if e.Accepted == "" {
		return fmt.Sprintf("invalid input %s: %s", e.Name, e.Reason)
	}
	return fmt.Sprintf("invalid input %s: %s; accepted values: %s", e.Name, e.Reason, e.Accepted)
}

// InputErrors is every input problem of one run, reported together.
type InputErrors []*InputError

// Error joins the problems, one per line.
func (es InputErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// AsInputErrors extracts the input problems from err, if it carries any.
func AsInputErrors(err error) (InputErrors, bool) {
	var many InputErrors
	if errors.As(err, &many) {
		return many, true
	}
	var one *InputError
	if errors.As(err, &one) {
		return InputErrors{one}, true
	}
	return nil, false
}

// lookup returns an input's raw value and where it came from:
// CLI flag > INPUT_<NAME> > config file > declared default.
//
// The runner passes every input of a composite action, "" when the caller
// gave none, so an empty INPUT_<NAME> (or config value) means "not given" and
// the next source applies — except for KeepEmpty inputs, whose action.yml
// declares the default: for them INPUT_<NAME> set to "" is the caller's empty
// value, and INPUT_<NAME> equal to the default is "not given" (the config file
// may still set it).
func (r *Runtime) lookup(name string) (string, string) {
	in := r.input(name)
	if v, ok := r.overrides[name]; ok {
		return v, "flag"
	}
	raw, set := r.lookupEnv(EnvName(name))
	switch v := strings.TrimSpace(raw); {
	case in.KeepEmpty && set && v == "":
		return "", "input"
	case v != "" && !(in.KeepEmpty && v == in.Default):
		return v, "input"
	}
	if v, ok := r.defaults[name]; ok && (v != "" || in.KeepEmpty) {
		return v, "config"
	}
	return in.Default, "default"
}

// EnvName is the environment variable the runner uses for an input.
func EnvName(input string) string {
	return "INPUT_" + strings.ToUpper(strings.ReplaceAll(input, " ", "_"))
}

func (r *Runtime) input(name string) actionspec.Input {
	in, ok := r.spec.Input(name)
	if !ok {
		panic(fmt.Sprintf("ghaction: action %s reads undeclared input %q", r.spec.ID, name))
	}
	return in
}

// Invalid records a problem with an input found by the caller's own checks.
func (r *Runtime) Invalid(name, reason, accepted string) {
	r.input(name)
	r.inputErrs = append(r.inputErrs, &InputError{Name: name, Reason: reason, Accepted: accepted})
}

// InvalidAt records a problem found in the file an input names, at a line
// (0: the whole file): the annotation points at it.
func (r *Runtime) InvalidAt(name, reason, accepted, file string, line int) {
	r.input(name)
	r.inputErrs = append(r.inputErrs, &InputError{Name: name, Reason: reason, Accepted: accepted, File: file, Line: line})
}

// InputErr returns the input problems recorded so far, or nil.
func (r *Runtime) InputErr() error {
	if len(r.inputErrs) == 0 {
		return nil
	}
	return append(InputErrors(nil), r.inputErrs...)
}

// Has reports whether the input was given (by flag, INPUT_ variable or config file).
func (r *Runtime) Has(name string) bool {
	_, src := r.lookup(name)
	return src != "default"
}

// String returns a string input; a required input that is empty is recorded as invalid.
func (r *Runtime) String(name string) string {
	in := r.input(name)
	v, _ := r.lookup(name)
	if in.Required && v == "" {
		r.Invalid(name, "is required", "")
	}
	switch {
	case v == "" || !in.Secret:
	case in.Kubeconfig:
		r.MaskKubeconfig(v)
	default:
		r.Mask(v)
	}
	return v
}

// Bool returns a boolean input (true/True/TRUE/false/False/FALSE, like @actions/core).
func (r *Runtime) Bool(name string) bool {
	v := r.String(name)
	switch v {
	case "true", "True", "TRUE":
		return true
	case "false", "False", "FALSE", "":
		return false
	}
	r.Invalid(name, fmt.Sprintf("%q is not a boolean", v), "true, false")
	return false
}

// Duration returns a duration input ("90s", "5m", "1h30m"; a bare number is seconds).
func (r *Runtime) Duration(name string) time.Duration {
	v := r.String(name)
	if v == "" {
		return 0
	}
	d, err := ParseDuration(v)
	if err != nil {
		r.Invalid(name, err.Error(), `a Go duration such as 90s, 5m, 1h30m, or a number of seconds`)
	}
	return d
}

// ParseDuration parses a non-negative Go duration or a bare number of seconds.
func ParseDuration(v string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		if !(n >= 0 && n <= float64(1<<62)/float64(time.Second)) { // also refuses NaN
			return 0, fmt.Errorf("%q is out of range", v)
		}
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration", v)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", v)
	}
	return d, nil
}

// Int returns a non-negative integer input.
func (r *Runtime) Int(name string) int {
	v := r.String(name)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		r.Invalid(name, fmt.Sprintf("%q is not a non-negative whole number", v), "0, 1, 2, ...")
		return 0
	}
	return n
}

// Float returns a non-negative number input and whether it was set at all.
func (r *Runtime) Float(name string) (float64, bool) {
	v := r.String(name)
	if v == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
	if err != nil || f < 0 {
		r.Invalid(name, fmt.Sprintf("%q is not a non-negative number", v), "a number such as 0.5 or 100")
		return 0, false
	}
	if strings.HasSuffix(v, "%") {
		f /= 100
	}
	return f, true
}

// Enum returns an input that must be one of its declared values.
func (r *Runtime) Enum(name string) string {
	in := r.input(name)
	v := r.String(name)
	if v == "" {
		return ""
	}
	for _, ok := range in.Values {
		if v == ok {
			return v
		}
	}
	r.Invalid(name, fmt.Sprintf("%q is not accepted", v), strings.Join(in.Values, ", "))
	return ""
}

// List returns a multiline input as its non-empty, trimmed lines. Inputs
// declared with Commas also split a line on commas.
func (r *Runtime) List(name string) []string {
	in := r.input(name)
	v := r.String(name)
	var out []string
	for _, line := range strings.Split(v, "\n") {
		parts := []string{line}
		if in.Commas {
			parts = strings.Split(line, ",")
		}
		for _, p := range parts {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// ValidateAll reads every declared input with its kind's parser, so every
// malformed value is reported before any work starts.
func (r *Runtime) ValidateAll() error {
	for _, in := range r.spec.Inputs {
		switch in.Kind {
		case actionspec.Bool:
			r.Bool(in.Name)
		case actionspec.Duration:
			r.Duration(in.Name)
		case actionspec.Int:
			r.Int(in.Name)
		case actionspec.Float:
			r.Float(in.Name)
		case actionspec.Enum:
			r.Enum(in.Name)
		case actionspec.List:
			r.List(in.Name)
		default:
			r.String(in.Name)
		}
	}
	return r.InputErr()
}
