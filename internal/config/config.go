// Package config reads the per-environment defaults file
// (.github/erlmcp-deploy.yml) and flattens it to string values.
//
// The file has two optional top-level sections: `defaults`, applied to every
// environment, and `environments`, one mapping per environment name whose
// entries override the defaults. Values are scalars (kept as their text) or
// lists of scalars (joined with newlines). Every value keeps the line of its
// key, so a caller can point at it. The package does not know which keys are
// valid action inputs; the caller checks that (one file serves every action:
// a key may belong to another action).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// DefaultPath is where the defaults file is looked for when no path is given.
const DefaultPath = ".github/erlmcp-deploy.yml"

const (
	keyDefaults     = "defaults"
	keyEnvironments = "environments"
)

// Value is one setting: its text and the line of its key in the file (for a
// key taken in through a YAML merge key, the line where it is written).
type Value struct {
	Text string
	Line int
}

// Settings are the merged values of one environment and the file they came from.
type Settings struct {
	// Path is the file read: the given path, else DefaultPath.
	Path   string
	Values map[string]Value
}

// file is the parsed content of a defaults file.
type file struct {
	defaults map[string]Value
	// envs is nil when the file has no environments section.
	envs map[string]map[string]Value
}

// Load returns the merged values (defaults overridden by the environment's
// entry) for environment from the file at path. An empty path means
// DefaultPath, and a missing default file yields (nil, nil); a missing
// explicitly given file is an error.
func Load(path string, environment string) (map[string]string, error) {
	s, err := LoadSettings(path, environment)
	if err != nil || s.Values == nil {
		return nil, err
	}
	out := make(map[string]string, len(s.Values))
	for k, v := range s.Values {
		out[k] = v.Text
	}
	return out, nil
}

// LoadSettings is Load with the line of every key and the path of the file
// read. A missing default file yields Settings with nil Values.
func LoadSettings(path string, environment string) (Settings, error) {
	f, display, err := read(path)
	if err != nil || f == nil {
		return Settings{Path: display}, err
	}
	out := make(map[string]Value, len(f.defaults))
	for k, v := range f.defaults {
		out[k] = v
	}
	if f.envs == nil {
		return Settings{Path: display, Values: out}, nil
	}
	if environment == "" {
		return Settings{Path: display}, fmt.Errorf("%s: no environment given; the file defines %s", display, describe(f.envs))
	}
	env, ok := f.envs[environment]
	if !ok {
		return Settings{Path: display}, fmt.Errorf("%s: environment %q is not defined; the file defines %s", display, environment, describe(f.envs))
	}
	for k, v := range env {
		out[k] = v
	}
	return Settings{Path: display, Values: out}, nil
}

// Environments returns the sorted environment names the file at path defines
// (path "" means DefaultPath; a missing default file yields nil, nil).
func Environments(path string) ([]string, error) {
	f, _, err := read(path)
	if err != nil || f == nil {
		return nil, err
	}
	return names(f.envs), nil
}

func names(envs map[string]map[string]Value) []string {
	out := make([]string, 0, len(envs))
	for name := range envs {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func describe(envs map[string]map[string]Value) string {
	n := names(envs)
	if len(n) == 0 {
		return "no environments"
	}
	return "environments: " + strings.Join(n, ", ")
}

// read loads and parses the file; it returns a nil file without error when the
// default file does not exist. The second result is the path used in errors.
func read(path string) (*file, string, error) {
	explicit := path != ""
	if !explicit {
		path = DefaultPath
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return nil, path, nil
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, path, fmt.Errorf("%s: read config: %w", path, err)
	}
	f, err := parse(path, data)
	if err != nil {
		return nil, path, err
	}
	return f, path, nil
}

// parse decodes data; path is only used in error messages.
func parse(path string, data []byte) (*file, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &file{defaults: map[string]Value{}}, nil // empty file
		}
		return nil, fmt.Errorf("%s: invalid YAML: %w", path, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, fmt.Errorf("%s: invalid YAML: %w", path, err)
		}
		return nil, fmt.Errorf("%s:%d: only one YAML document is allowed", path, extra.Line)
	}
	p := parser{path: path}
	return p.top(&doc)
}

type parser struct {
	path string
}

func (p parser) errorf(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", p.path, n.Line, fmt.Sprintf(format, args...))
}

// entry is one key/value pair of a mapping, after merge keys are applied.
type entry struct {
	key   string
	keyN  *yaml.Node
	value *yaml.Node
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// entries lists a mapping's pairs in order, rejecting duplicate and
// non-scalar keys, and expanding YAML merge keys (`<<: *anchor`) with lower
// precedence than the mapping's own keys.
func (p parser) entries(n *yaml.Node, what string, depth int) ([]entry, error) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return nil, p.errorf(n, "%s must be a mapping", what)
	}
	if depth > 10 {
		return nil, p.errorf(n, "%s: merge keys nested too deeply", what)
	}
	var own, merged []entry
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, p.errorf(k, "%s: keys must be plain strings", what)
		}
		if k.Tag == "!!merge" {
			srcs := []*yaml.Node{deref(v)}
			if srcs[0].Kind == yaml.SequenceNode {
				srcs = srcs[0].Content
			}
			for _, src := range srcs {
				es, err := p.entries(src, what, depth+1)
				if err != nil {
					return nil, err
				}
				merged = append(merged, es...)
			}
			continue
		}
		if seen[k.Value] {
			return nil, p.errorf(k, "%s: key %q is repeated", what, k.Value)
		}
		seen[k.Value] = true
		own = append(own, entry{key: k.Value, keyN: k, value: v})
	}
	out := own
	for _, e := range merged {
		if !seen[e.key] {
			seen[e.key] = true
			out = append(out, e)
		}
	}
	return out, nil
}

func (p parser) top(doc *yaml.Node) (*file, error) {
	root := doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return &file{defaults: map[string]Value{}}, nil
		}
		root = root.Content[0]
	}
	if isNull(deref(root)) {
		return &file{defaults: map[string]Value{}}, nil
	}
	es, err := p.entries(root, "the top level", 0)
	if err != nil {
		return nil, err
	}
	f := &file{defaults: map[string]Value{}}
	for _, e := range es {
		switch e.key {
		case keyDefaults:
			if f.defaults, err = p.values(e.value, keyDefaults); err != nil {
				return nil, err
			}
		case keyEnvironments:
			if f.envs, err = p.environments(e.value); err != nil {
				return nil, err
			}
		default:
			return nil, p.errorf(e.keyN, "unknown top-level key %q (accepted: %s, %s)", e.key, keyDefaults, keyEnvironments)
		}
	}
	return f, nil
}

func (p parser) environments(n *yaml.Node) (map[string]map[string]Value, error) {
	if isNull(deref(n)) {
		return nil, nil // `environments:` with nothing under it: same as absent
	}
	es, err := p.entries(n, keyEnvironments, 0)
	if err != nil {
		return nil, err
	}
	envs := make(map[string]map[string]Value, len(es))
	for _, e := range es {
		if e.key == "" {
			return nil, p.errorf(e.keyN, "environment names must not be empty")
		}
		if envs[e.key], err = p.values(e.value, fmt.Sprintf("environment %q", e.key)); err != nil {
			return nil, err
		}
	}
	return envs, nil
}

// values flattens a section mapping to strings, keeping each key's line.
func (p parser) values(n *yaml.Node, what string) (map[string]Value, error) {
	out := map[string]Value{}
	if isNull(deref(n)) {
		return out, nil
	}
	es, err := p.entries(n, what, 0)
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		v, ok := flatten(deref(e.value))
		if !ok {
			return nil, p.errorf(e.keyN, "key %q must be a scalar or a list of scalars", e.key)
		}
		out[e.key] = Value{Text: v, Line: e.keyN.Line}
	}
	return out, nil
}

// flatten turns a scalar into its text (null becomes "") and a sequence of
// scalars into newline-joined text.
func flatten(n *yaml.Node) (string, bool) {
	switch n.Kind {
	case yaml.ScalarNode:
		return scalar(n), true
	case yaml.SequenceNode:
		items := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			c = deref(c)
			if c.Kind != yaml.ScalarNode {
				return "", false
			}
			items = append(items, scalar(c))
		}
		return strings.Join(items, "\n"), true
	}
	return "", false
}

func scalar(n *yaml.Node) string {
	if isNull(n) {
		return ""
	}
	return n.Value
}
