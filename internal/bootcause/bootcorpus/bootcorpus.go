// Package bootcorpus reads the boot-failure corpus of internal/bootcause
// (testdata/corpus/<class>/<case>.log and .want): a case's log as the
// crashed instance printed it, and the class its .want file gives. Tests,
// the bench and the demo share it.
package bootcorpus

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Case is one corpus case.
type Case struct {
	// Name is "<class dir>/<case>", e.g. "missing-env/elixir-runtime-exs".
	Name string
	// Log is what the crashed instance printed (a public case's leading "# " source lines removed).
	Log string
	// Class is the class its .want file gives ("" for a log that shows no failure).
	Class string
}

// Log reads the log of the case name from the corpus in dir.
func Log(dir, name string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(dir, name+".log"))
	if err != nil {
		return "", fmt.Errorf("boot corpus case %s: %w", name, err)
	}
	s := string(raw)
	for strings.HasPrefix(s, "# ") {
		_, s, _ = strings.Cut(s, "\n")
	}
	return s, nil
}

// All reads every case of the corpus in dir, sorted by name.
func All(dir string) ([]Case, error) {
	wants, err := filepath.Glob(filepath.Join(dir, "*", "*.want"))
	if err != nil {
		return nil, err
	}
	if len(wants) == 0 {
		return nil, fmt.Errorf("boot corpus %s: no cases", dir)
	}
	sort.Strings(wants)
	out := make([]Case, 0, len(wants))
	for _, want := range wants {
		rel, err := filepath.Rel(dir, strings.TrimSuffix(want, ".want"))
		if err != nil {
			return nil, err
		}
		c := Case{Name: filepath.ToSlash(rel)}
		if c.Log, err = Log(dir, c.Name); err != nil {
			return nil, err
		}
		raw, err := os.ReadFile(want)
		if err != nil {
			return nil, fmt.Errorf("boot corpus case %s: %w", c.Name, err)
		}
		for _, l := range strings.Split(string(raw), "\n") {
			if v, ok := strings.CutPrefix(l, "class:"); ok {
				c.Class = strings.TrimSpace(v)
			}
		}
		out = append(out, c)
	}
	return out, nil
}
