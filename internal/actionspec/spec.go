// Package actionspec declares, once, the inputs and outputs of every action.
//
// action.yml files, CLI flags, --help text and the README tables are all
// generated from these declarations; a contract test fails when they drift.
package actionspec

import (
	"fmt"
	"sort"
	"strings"
)

// Kind is the type an input's value is parsed as.
type Kind int

// Input kinds.
const (
	String Kind = iota
	Bool
	Duration
	Int
	Float
	Enum
	List
)

// String names the kind the way the README and --help show it.
func (k Kind) String() string {
	switch k {
	case Bool:
		return "bool"
	case Duration:
		return "duration"
	case Int:
		return "int"
	case Float:
		return "number"
	case Enum:
		return "enum"
	case List:
		return "list"
	default:
		return "string"
	}
}

// Input is one declared action input.
type Input struct {
	Name        string
	Description string
	Kind        Kind
	Default     string
	Required    bool
	// Secret inputs are masked in logs as soon as they are read.
	Secret bool
	// Kubeconfig marks a secret kubeconfig: its credentials are masked, not each of its lines.
	Kubeconfig bool
	// Values lists the accepted values of an Enum input.
	Values []string
	// Commas makes a List input also split each line on commas.
	Commas bool
	// DefaultDoc describes a computed default that action.yml cannot express.
	DefaultDoc string
	// ActionDefault is an expression default written into action.yml, such
	// as ${{ github.token }}, for values only the workflow context knows.
	ActionDefault string
	// KeepEmpty: a value given as empty means empty (the description says
	// what that does, e.g. "empty disables the MCP check") instead of "use
	// the default". The runner passes every input of a composite action —
	// the action.yml default when the caller gave none, "" only when the
	// caller wrote '' — so action.yml declares Default for these inputs, and
	// the binary tells "not given" (INPUT_ absent, or equal to Default) from
	// "given as empty" (INPUT_ set to "").
	KeepEmpty bool
}

// RunnerDefault is the `default:` action.yml declares: what the runner
// passes as INPUT_<NAME> when the caller gives no value ("" when none).
func (in Input) RunnerDefault() string {
	switch {
	case in.ActionDefault != "":
		return in.ActionDefault
	case in.KeepEmpty:
		return in.Default
	}
	return ""
}

// Output is one declared action output.
type Output struct {
	Name        string
	Description string
	// Structural outputs hold a value the action computes from a closed
	// vocabulary (a status word, a revision number, a boolean, a count): they
	// are never redacted, so a masked value can never turn them into ***.
	Structural bool
}

// Action is the contract of one action: what it reads and what it writes.
type Action struct {
	// ID is the directory under actions/ and the CLI subcommand.
	ID          string
	Name        string
	Description string
	Icon        string
	Color       string
	Inputs      []Input
	Outputs     []Output
}

// Input returns the declared input called name.
func (a Action) Input(name string) (Input, bool) {
	for _, in := range a.Inputs {
		if in.Name == name {
			return in, true
		}
	}
	return Input{}, false
}

// Output returns the declared output called name.
func (a Action) Output(name string) (Output, bool) {
	for _, o := range a.Outputs {
		if o.Name == name {
			return o, true
		}
	}
	return Output{}, false
}

// Validate reports declaration mistakes: duplicate names, enums without values,
// defaults outside an enum.
func (a Action) Validate() error {
	seen := map[string]bool{}
	for _, in := range a.Inputs {
		if seen[in.Name] {
			return fmt.Errorf("action %s: input %q declared twice", a.ID, in.Name)
		}
		seen[in.Name] = true
		if in.Description == "" {
			return fmt.Errorf("action %s: input %q has no description", a.ID, in.Name)
		}
		if in.Kind == Enum {
			if len(in.Values) == 0 {
				return fmt.Errorf("action %s: enum input %q has no values", a.ID, in.Name)
			}
			if in.Default != "" && !contains(in.Values, in.Default) {
				return fmt.Errorf("action %s: input %q default %q is not one of %s", a.ID, in.Name, in.Default, strings.Join(in.Values, ", "))
			}
		}
		if in.Required && in.Default != "" {
			return fmt.Errorf("action %s: input %q is required and has a default", a.ID, in.Name)
		}
		if in.KeepEmpty && (in.Default == "" || in.ActionDefault != "" || in.Required) {
			return fmt.Errorf("action %s: input %q keeps an empty value: it needs a static default to tell empty from not given", a.ID, in.Name)
		}
	}
	outs := map[string]bool{}
	for _, o := range a.Outputs {
		if outs[o.Name] {
			return fmt.Errorf("action %s: output %q declared twice", a.ID, o.Name)
		}
		outs[o.Name] = true
		if o.Description == "" {
			return fmt.Errorf("action %s: output %q has no description", a.ID, o.Name)
		}
	}
	return nil
}

// All returns every action, sorted by ID.
func All() []Action {
	all := []Action{Deploy(), Rollback(), Smoke(), ReleaseNotes(), Preview()}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	return all
}

// ByID returns the action with the given ID.
func ByID(id string) (Action, bool) {
	for _, a := range All() {
		if a.ID == id {
			return a, true
		}
	}
	return Action{}, false
}

// ConfigKeys returns, sorted, every key the shared config file may hold: the
// inputs of every action that reads it (that declares a `config` input).
func ConfigKeys() []string {
	seen := map[string]bool{}
	var keys []string
	for _, a := range configReaders() {
		for _, in := range a.Inputs {
			if !seen[in.Name] {
				seen[in.Name] = true
				keys = append(keys, in.Name)
			}
		}
	}
	sort.Strings(keys)
	return keys
}

// ConfigKeyOwners returns the IDs of the actions reading the config file that
// declare key (none: no action uses it).
func ConfigKeyOwners(key string) []string {
	var ids []string
	for _, a := range configReaders() {
		if _, ok := a.Input(key); ok {
			ids = append(ids, a.ID)
		}
	}
	return ids
}

func configReaders() []Action {
	var out []Action
	for _, a := range All() {
		if _, ok := a.Input("config"); ok {
			out = append(out, a)
		}
	}
	return out
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}
