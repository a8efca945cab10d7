// Package checks reads and runs the smoke action's checks file: declarative
// HTTP checks in YAML, in the spirit of Hurl.
//
//	checks:
//	  - name: echo answers
//	    method: POST
//	    path: /api/echo            # or url: https://...
//	    headers: {Authorization: "Bearer ${API_TOKEN}"}
//	    json: {hello: world}       # or body: "raw text"
//	    expect:
//	      status: 200              # or [200, 204]
//	      headers: {Content-Type: application/json}   # the value must contain this
//	      json:
//	        - {path: $.json.hello, op: "==", value: world}
//	        - {path: $.headers.Authorization, op: exists}
//	      max-time: 500ms
//	    retry: {attempts: 5, interval: 1s}   # or {budget: 30s, interval: 1s}
//
// ${NAME} in any value is replaced from the environment; the values used are
// returned so the caller can mask them. Unknown keys are errors with their line.
package checks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ohler55/ojg/jp"
	"gopkg.in/yaml.v3"
)

// File is a parsed checks file.
type File struct {
	Checks []Check `yaml:"checks"`
}

// Check is one HTTP request and what its answer must look like.
type Check struct {
	Name    string            `yaml:"name"`
	Method  string            `yaml:"method"`
	Path    string            `yaml:"path"`
	URL     string            `yaml:"url"`
	Headers map[string]string `yaml:"headers"`
	Body    string            `yaml:"body"`
	JSON    any               `yaml:"json"`
	Expect  Expect            `yaml:"expect"`
	Retry   *Retry            `yaml:"retry"`
	// Line is where the check starts in the file.
	Line int `yaml:"-"`
}

// Expect is what the answer must look like.
type Expect struct {
	Status  StatusList        `yaml:"status"`
	Headers map[string]string `yaml:"headers"`
	JSON    []Assertion       `yaml:"json"`
	MaxTime Duration          `yaml:"max-time"`
}

// Assertion is one JSONPath assertion on the answer's JSON body.
type Assertion struct {
	Path  string `yaml:"path"`
	Op    string `yaml:"op"`
	Value any    `yaml:"value"`
	expr  jp.Expr
	re    *regexp.Regexp
}

// Retry repeats a check until it passes: at most Attempts times, or until
// Budget has passed, waiting Interval between attempts.
type Retry struct {
	Attempts int      `yaml:"attempts"`
	Interval Duration `yaml:"interval"`
	Budget   Duration `yaml:"budget"`
}

// Ops are the assertion operators.
var Ops = []string{"==", "!=", "<", "<=", ">", ">=", "exists", "not-exists", "matches", "contains"}

// StatusList is one status code or a list of accepted ones (default: 2xx).
type StatusList []int

// UnmarshalYAML accepts `200`, `"200"` or `[200, 204]`.
func (s *StatusList) UnmarshalYAML(n *yaml.Node) error {
	var nodes []*yaml.Node
	switch n.Kind {
	case yaml.ScalarNode:
		nodes = []*yaml.Node{n}
	case yaml.SequenceNode:
		nodes = n.Content
	default:
		return fmt.Errorf("line %d: status must be a code or a list of codes", n.Line)
	}
	for _, c := range nodes {
		if lenient && strings.Contains(c.Value, "${") {
			continue
		}
		code, err := strconv.Atoi(strings.TrimSpace(c.Value))
		if c.Kind != yaml.ScalarNode || err != nil || code < 100 || code > 599 {
			return fmt.Errorf("line %d: status %q is not an HTTP status code (100-599)", c.Line, c.Value)
		}
		*s = append(*s, code)
	}
	return nil
}

// Duration is a YAML duration: "500ms", "2s", or a number of seconds.
type Duration time.Duration

// UnmarshalYAML parses a Go duration or a number of seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as 500ms or 2s", n.Line)
	}
	if lenient && strings.Contains(n.Value, "${") {
		return nil
	}
	v := strings.TrimSpace(n.Value)
	if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f < 1e9 {
		*d = Duration(f * float64(time.Second))
		return nil
	}
	x, err := time.ParseDuration(v)
	if err != nil || x < 0 {
		return fmt.Errorf("line %d: %q is not a duration (want e.g. 500ms, 2s)", n.Line, n.Value)
	}
	*d = Duration(x)
	return nil
}

// lenient is set only during the first, key-checking pass over the raw text,
// where ${NAME} is not expanded yet; parseMu serializes Parse so no other
// decode sees it.
var (
	parseMu sync.Mutex
	lenient bool
)

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// Load reads and parses a checks file; see Parse.
func Load(path string, getenv func(string) string) (*File, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	f, secrets, err := Parse(data, getenv)
	if err != nil {
		return nil, secrets, fmt.Errorf("%s: %w", path, err)
	}
	return f, secrets, nil
}

// Parse parses a checks file. ${NAME} in values is replaced with getenv(NAME);
// a reference to an unset variable is an error. The second result is every
// value substituted, for the caller to mask (also on error).
func Parse(data []byte, getenv func(string) string) (f *File, secrets []string, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("checks file: %v", r)
		}
	}()
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	parseMu.Lock()
	defer func() { lenient = false; parseMu.Unlock() }()
	// Pass 1: the raw text with KnownFields, so unknown keys are reported with their line.
	lenient = true
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var shape File
	err = dec.Decode(&shape)
	lenient = false
	if errors.Is(err, io.EOF) {
		return nil, nil, errors.New("checks file is empty")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("checks file: %w", err)
	}
	// Pass 2: the node tree with ${NAME} expanded in scalar values.
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, nil, fmt.Errorf("checks file: %w", err)
	}
	var missing []string
	expand(&root, getenv, &secrets, &missing)
	if len(missing) > 0 {
		return nil, secrets, fmt.Errorf("checks file: %s", strings.Join(missing, "; "))
	}
	var out File
	if err := root.Decode(&out); err != nil {
		return nil, secrets, fmt.Errorf("checks file: %w", err)
	}
	if len(out.Checks) == 0 {
		return nil, secrets, errors.New("checks file: no checks (want a top-level `checks:` list)")
	}
	lines := checkLines(&root)
	for i := range out.Checks {
		c := &out.Checks[i]
		if i < len(lines) {
			c.Line = lines[i]
		}
		if err := c.validate(); err != nil {
			name := c.Name
			if name == "" {
				name = fmt.Sprintf("#%d", i+1)
			}
			return nil, secrets, fmt.Errorf("checks file: line %d: check %s: %w", c.Line, name, err)
		}
	}
	return &out, secrets, nil
}

// expand replaces ${NAME} in every scalar value (not in keys).
func expand(n *yaml.Node, getenv func(string) string, secrets, missing *[]string) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			expand(c, getenv, secrets, missing)
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			expand(n.Content[i], getenv, secrets, missing)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return
		}
		line := n.Line
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			name := ref[2 : len(ref)-1]
			v := getenv(name)
			if v == "" {
				*missing = append(*missing, fmt.Sprintf("line %d: ${%s} is not set", line, name))
				return ref
			}
			if !slices.Contains(*secrets, v) {
				*secrets = append(*secrets, v)
			}
			return v
		})
	}
}

// checkLines returns the line of each item of the top-level checks list.
func checkLines(root *yaml.Node) []int {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "checks" {
			var lines []int
			for _, c := range m.Content[i+1].Content {
				lines = append(lines, c.Line)
			}
			return lines
		}
	}
	return nil
}

func (c *Check) validate() error {
	if strings.TrimSpace(c.Name) == "" {
		return errors.New("name is required")
	}
	c.Method = strings.ToUpper(strings.TrimSpace(c.Method))
	if c.Method == "" {
		c.Method = "GET"
	}
	if strings.ContainsAny(c.Method, " \t\r\n") {
		return fmt.Errorf("method %q is not an HTTP method", c.Method)
	}
	switch {
	case c.Path == "" && c.URL == "":
		return errors.New("path or url is required")
	case c.Path != "" && c.URL != "":
		return errors.New("give path or url, not both")
	case c.Path != "" && !strings.HasPrefix(c.Path, "/"):
		return fmt.Errorf("path %q must start with /", c.Path)
	case c.URL != "" && !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://"):
		return fmt.Errorf("url %q must be an http(s) URL", c.URL)
	}
	if c.Body != "" && c.JSON != nil {
		return errors.New("give body or json, not both")
	}
	if c.JSON != nil {
		if _, err := json.Marshal(c.JSON); err != nil {
			return fmt.Errorf("json body: %w", err)
		}
	}
	for i := range c.Expect.JSON {
		a := &c.Expect.JSON[i]
		if !slices.Contains(Ops, a.Op) {
			return fmt.Errorf("expect.json[%d]: op %q is not one of %s", i, a.Op, strings.Join(Ops, " "))
		}
		x, err := parsePath(a.Path)
		if err != nil {
			return fmt.Errorf("expect.json[%d]: %w", i, err)
		}
		a.expr = x
		if a.Op == "matches" {
			s, ok := a.Value.(string)
			if !ok {
				return fmt.Errorf("expect.json[%d]: matches needs a string regular expression", i)
			}
			if a.re, err = regexp.Compile(s); err != nil {
				return fmt.Errorf("expect.json[%d]: %w", i, err)
			}
		}
	}
	if r := c.Retry; r != nil {
		if r.Attempts < 0 {
			return errors.New("retry.attempts must not be negative")
		}
		if r.Attempts == 0 && r.Budget == 0 {
			return errors.New("retry needs attempts or budget")
		}
	}
	return nil
}

// parsePath compiles a JSONPath such as $.a.b or $.items[0].name.
func parsePath(p string) (x jp.Expr, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("path %q is not a JSONPath: %v", p, r)
		}
	}()
	if !strings.HasPrefix(p, "$") {
		return nil, fmt.Errorf("path %q is not a JSONPath (want e.g. $.status)", p)
	}
	x, err = jp.ParseString(p)
	if err != nil {
		return nil, fmt.Errorf("path %q is not a JSONPath: %v", p, err)
	}
	return x, nil
}
