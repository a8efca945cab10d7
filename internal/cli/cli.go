// Package cli is the erlmcp-deploy command line: one subcommand per action,
// one flag per action input, named exactly like the input.
//
// Flags, --help and action.yml all come from internal/actionspec. A flag wins
// over INPUT_<NAME>, which wins over the config file and the declared default,
// so a workflow step and a laptop behave the same.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/ghaction"
)

// Command binds an action's declaration to the code that runs it.
type Command struct {
	Spec actionspec.Action
	Run  ghaction.RunFunc
}

// Env is the process surroundings the CLI runs in.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// LookupEnv, when set, is used instead of Getenv, so that an INPUT_<NAME>
	// set to "" is told apart from an absent one (see ghaction.WithLookupEnv).
	LookupEnv func(string) (string, bool)
	Version   string
}

// Main runs the CLI with args (without the program name) and returns the exit code.
func Main(ctx context.Context, args []string, env Env, commands []Command) int {
	sort.Slice(commands, func(i, j int) bool { return commands[i].Spec.ID < commands[j].Spec.ID })
	if len(args) == 0 {
		usage(env.Stderr, commands)
		return ghaction.ExitBadInput
	}
	switch args[0] {
	case "-h", "--help", "help":
		if len(args) > 1 {
			if c, ok := find(commands, args[1]); ok {
				CommandHelp(env.Stdout, c.Spec)
				return ghaction.ExitOK
			}
		}
		usage(env.Stdout, commands)
		return ghaction.ExitOK
	case "version", "--version":
		fmt.Fprintf(env.Stdout, "erlmcp-deploy %s\n", env.Version)
		return ghaction.ExitOK
	}
	c, ok := find(commands, args[0])
	if !ok {
		fmt.Fprintf(env.Stderr, "erlmcp-deploy: unknown command %q\n\n", args[0])
		usage(env.Stderr, commands)
		return ghaction.ExitBadInput
	}
	overrides, err := ParseFlags(c.Spec, args[1:], env.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		CommandHelp(env.Stdout, c.Spec)
		return ghaction.ExitOK
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "erlmcp-deploy %s: %v\nRun 'erlmcp-deploy %s --help' for the inputs.\n", c.Spec.ID, err, c.Spec.ID)
		return ghaction.ExitBadInput
	}
	source := ghaction.WithGetenv(env.Getenv)
	if env.LookupEnv != nil {
		source = ghaction.WithLookupEnv(env.LookupEnv)
	}
	rt := ghaction.New(c.Spec, source, ghaction.WithWriter(env.Stdout), ghaction.WithOverrides(overrides))
	return rt.Run(ctx, c.Run)
}

func find(commands []Command, id string) (Command, bool) {
	for _, c := range commands {
		if c.Spec.ID == id {
			return c, true
		}
	}
	return Command{}, false
}

// inputFlag records the value of one input flag.
type inputFlag struct {
	kind  actionspec.Kind
	name  string
	set   map[string]string
	multi bool
}

func (f *inputFlag) String() string { return "" }

func (f *inputFlag) Set(v string) error {
	if old, ok := f.set[f.name]; ok && f.multi {
		v = old + "\n" + v
	}
	f.set[f.name] = v
	return nil
}

// IsBoolFlag lets `--dry-run` stand for `--dry-run=true`.
func (f *inputFlag) IsBoolFlag() bool { return f.kind == actionspec.Bool }

// ParseFlags turns args into input values keyed by input name; only flags
// actually given appear. List inputs may be repeated.
func ParseFlags(spec actionspec.Action, args []string, stderr io.Writer) (map[string]string, error) {
	fs := flag.NewFlagSet(spec.ID, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	set := map[string]string{}
	for _, in := range spec.Inputs {
		fs.Var(&inputFlag{kind: in.Kind, name: in.Name, set: set, multi: in.Kind == actionspec.List}, in.Name, in.Description)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (every input is a --flag)", fs.Arg(0))
	}
	return set, nil
}

func usage(w io.Writer, commands []Command) {
	fmt.Fprint(w, "erlmcp-deploy ships erlmcp to Kubernetes: the same code as the GitHub Actions, on your laptop.\n\nUsage:\n  erlmcp-deploy <command> [--input value ...]\n\nCommands:\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", c.Spec.ID, c.Spec.Description)
	}
	fmt.Fprintf(tw, "  version\tPrint the version.\n")
	tw.Flush()
	fmt.Fprint(w, "\nRun 'erlmcp-deploy <command> --help' for a command's inputs.\n")
}

// CommandHelp prints a command's inputs and outputs from its declaration.
func CommandHelp(w io.Writer, spec actionspec.Action) {
	fmt.Fprintf(w, "Usage: erlmcp-deploy %s [flags]\n\n%s\n\n", spec.ID, spec.Description)
	fmt.Fprintf(w, "Inputs (each flag can also be given as the INPUT_<NAME> environment variable):\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, in := range spec.Inputs {
		var notes []string
		if in.Required {
			notes = append(notes, "required")
		}
		if in.Secret {
			notes = append(notes, "secret")
		}
		if d := in.DefaultText(); d != "" {
			notes = append(notes, "default "+d)
		}
		desc := in.Description
		if in.Kind == actionspec.Enum {
			desc += " One of: " + strings.Join(in.Values, ", ") + "."
		}
		if len(notes) > 0 {
			desc += " (" + strings.Join(notes, "; ") + ")"
		}
		fmt.Fprintf(tw, "  --%s %s\t%s\n", in.Name, in.Kind, desc)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nOutputs:\n")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, o := range spec.Outputs {
		fmt.Fprintf(tw, "  %s\t%s\n", o.Name, o.Description)
	}
	tw.Flush()
}
