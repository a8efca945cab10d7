package workflows_test

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A small evaluator of GitHub Actions expressions — the subset the workflows
// use in `if:` and outputs: literals, property access, ! == != < <= > >= &&
// ||, parentheses and the status functions — so that a test can ask what a
// condition decides in a given situation instead of matching its text.
// Semantics follow GitHub's documentation: && and || return an operand, not
// a boolean; == and != compare strings case-insensitively; a missing property
// is null; null, false, 0, NaN and "" are falsy.

type exprCtx struct {
	vars   map[string]any // top-level contexts: steps, needs, inputs, github, ...
	status string         // success, failure or cancelled: what success(), failure(), cancelled() see
}

type exprParser struct {
	src  string
	toks []string
	pos  int
}

func tokenize(src string) ([]string, error) {
	var toks []string
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			j := i + 1
			var b strings.Builder
			for ; j < len(src); j++ {
				if src[j] == '\'' {
					if j+1 < len(src) && src[j+1] == '\'' { // '' is an escaped quote
						b.WriteByte('\'')
						j++
						continue
					}
					break
				}
				b.WriteByte(src[j])
			}
			if j >= len(src) {
				return nil, fmt.Errorf("unterminated string in %q", src)
			}
			toks = append(toks, "'"+b.String())
			i = j + 1
		case strings.HasPrefix(src[i:], "&&"), strings.HasPrefix(src[i:], "||"), strings.HasPrefix(src[i:], "=="),
			strings.HasPrefix(src[i:], "!="), strings.HasPrefix(src[i:], "<="), strings.HasPrefix(src[i:], ">="):
			toks = append(toks, src[i:i+2])
			i += 2
		case strings.ContainsRune("!()<>,.[]*", rune(c)):
			toks = append(toks, string(c))
			i++
		case c == '_' || c == '-' || unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c)):
			j := i
			for j < len(src) && (src[j] == '_' || src[j] == '-' || unicode.IsLetter(rune(src[j])) || unicode.IsDigit(rune(src[j])) ||
				(src[j] == '.' && j > i && unicode.IsDigit(rune(src[i])))) {
				j++
			}
			toks = append(toks, src[i:j])
			i = j
		default:
			return nil, fmt.Errorf("unexpected %q in %q", c, src)
		}
	}
	return toks, nil
}

func (p *exprParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *exprParser) next() string {
	t := p.peek()
	p.pos++
	return t
}

type node func(*exprCtx) (any, error)

func (p *exprParser) parseOr() (node, error) { return p.parseLogical("||", true, p.parseAnd) }

func (p *exprParser) parseAnd() (node, error) { return p.parseLogical("&&", false, p.parseCmp) }

// parseLogical parses operand (op operand)*, short-circuiting like GitHub:
// the left value is the result when its truthiness equals stopWhen.
func (p *exprParser) parseLogical(op string, stopWhen bool, operand func() (node, error)) (node, error) {
	left, err := operand()
	if err != nil {
		return nil, err
	}
	for p.peek() == op {
		p.next()
		right, err := operand()
		if err != nil {
			return nil, err
		}
		l := left
		left = func(c *exprCtx) (any, error) {
			v, err := l(c)
			if err != nil || truthy(v) == stopWhen {
				return v, err
			}
			return right(c)
		}
	}
	return left, nil
}

func (p *exprParser) parseCmp() (node, error) {
	left, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		op := p.peek()
		switch op {
		case "==", "!=", "<", "<=", ">", ">=":
		default:
			return left, nil
		}
		p.next()
		right, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		l := left
		left = func(c *exprCtx) (any, error) {
			a, err := l(c)
			if err != nil {
				return nil, err
			}
			b, err := right(c)
			if err != nil {
				return nil, err
			}
			return compare(op, a, b), nil
		}
	}
}

func (p *exprParser) parseUnary() (node, error) {
	if p.peek() == "!" {
		p.next()
		inner, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return func(c *exprCtx) (any, error) {
			v, err := inner(c)
			return !truthy(v), err
		}, nil
	}
	return p.parsePrimary()
}

func (p *exprParser) parsePrimary() (node, error) {
	t := p.next()
	switch {
	case t == "":
		return nil, fmt.Errorf("unexpected end of %q", p.src)
	case t == "(":
		inner, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if p.next() != ")" {
			return nil, fmt.Errorf("missing ) in %q", p.src)
		}
		return inner, nil
	case strings.HasPrefix(t, "'"):
		s := t[1:]
		return func(*exprCtx) (any, error) { return s, nil }, nil
	case t == "true" || t == "false":
		b := t == "true"
		return func(*exprCtx) (any, error) { return b, nil }, nil
	case t == "null":
		return func(*exprCtx) (any, error) { return nil, nil }, nil
	}
	if f, err := strconv.ParseFloat(t, 64); err == nil {
		return func(*exprCtx) (any, error) { return f, nil }, nil
	}
	if p.peek() == "(" {
		return p.parseCall(t)
	}
	path := []string{t}
	for p.peek() == "." {
		p.next()
		path = append(path, p.next())
	}
	return func(c *exprCtx) (any, error) {
		var v any = c.vars
		for _, k := range path {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, nil
			}
			v = m[k]
		}
		return v, nil
	}, nil
}

func (p *exprParser) parseCall(name string) (node, error) {
	p.next() // (
	var args []node
	for p.peek() != ")" {
		a, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		args = append(args, a)
		if p.peek() == "," {
			p.next()
		}
	}
	p.next() // )
	eval := func(c *exprCtx) ([]any, error) {
		var out []any
		for _, a := range args {
			v, err := a(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	switch strings.ToLower(name) {
	case "success":
		return func(c *exprCtx) (any, error) { return c.status == "success", nil }, nil
	case "failure":
		return func(c *exprCtx) (any, error) { return c.status == "failure", nil }, nil
	case "cancelled":
		return func(c *exprCtx) (any, error) { return c.status == "cancelled", nil }, nil
	case "always":
		return func(*exprCtx) (any, error) { return true, nil }, nil
	case "startswith", "endswith", "contains":
		return func(c *exprCtx) (any, error) {
			v, err := eval(c)
			if err != nil || len(v) != 2 {
				return nil, fmt.Errorf("%s needs 2 arguments: %v", name, err)
			}
			a, b := strings.ToLower(str(v[0])), strings.ToLower(str(v[1]))
			switch strings.ToLower(name) {
			case "startswith":
				return strings.HasPrefix(a, b), nil
			case "endswith":
				return strings.HasSuffix(a, b), nil
			}
			return strings.Contains(a, b), nil
		}, nil
	}
	return nil, fmt.Errorf("function %s is not supported by this evaluator", name)
}

func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case float64:
		return x != 0 && x == x
	case string:
		return x != ""
	}
	return true
}

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func num(v any) float64 {
	switch x := v.(type) {
	case nil:
		return 0
	case bool:
		if x {
			return 1
		}
		return 0
	case float64:
		return x
	case string:
		if strings.TrimSpace(x) == "" {
			return 0
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return math.NaN()
		}
		return f
	}
	return 0
}

func compare(op string, a, b any) bool {
	_, as := a.(string)
	_, bs := b.(string)
	if as && bs {
		x, y := strings.ToLower(a.(string)), strings.ToLower(b.(string))
		switch op {
		case "==":
			return x == y
		case "!=":
			return x != y
		case "<":
			return x < y
		case "<=":
			return x <= y
		case ">":
			return x > y
		}
		return x >= y
	}
	// Different types are compared as numbers (null, false and '' are 0).
	x, y := num(a), num(b)
	switch op {
	case "==":
		return x == y
	case "!=":
		return x != y
	case "<":
		return x < y
	case "<=":
		return x <= y
	case ">":
		return x > y
	}
	return x >= y
}

// parseExpr parses an expression, with or without its ${{ }}.
func parseExpr(src string) (node, error) {
	src = strings.TrimSpace(src)
	if rest, ok := strings.CutPrefix(src, "${{"); ok {
		src = strings.TrimSpace(strings.TrimSuffix(rest, "}}"))
	}
	toks, err := tokenize(src)
	if err != nil {
		return nil, err
	}
	p := &exprParser{src: src, toks: toks}
	n, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.pos != len(toks) {
		return nil, fmt.Errorf("unexpected %q in %q", p.peek(), src)
	}
	return n, nil
}

// evalIf decides a step's or job's `if:` as the runner does: an empty
// condition is success(), and one that calls no status function is
// success() && (condition).
func evalIf(t *testing.T, cond string, c *exprCtx) bool {
	t.Helper()
	cond = strings.TrimSpace(cond)
	if cond == "" {
		cond = "success()"
	}
	lower := strings.ToLower(cond)
	if !strings.Contains(lower, "success(") && !strings.Contains(lower, "failure(") &&
		!strings.Contains(lower, "cancelled(") && !strings.Contains(lower, "always(") {
		inner := strings.TrimSpace(cond)
		if rest, ok := strings.CutPrefix(inner, "${{"); ok {
			inner = strings.TrimSuffix(rest, "}}")
		}
		cond = "success() && (" + inner + ")"
	}
	n, err := parseExpr(cond)
	require.NoError(t, err, cond)
	v, err := n(c)
	require.NoError(t, err, cond)
	return truthy(v)
}

// evalTemplate evaluates a value such as `x-${{ inputs.a }}-y`.
func evalTemplate(t *testing.T, s string, c *exprCtx) string {
	t.Helper()
	var b strings.Builder
	for {
		i := strings.Index(s, "${{")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.Index(s[i:], "}}")
		require.GreaterOrEqual(t, j, 0, "unterminated ${{ in %q", s)
		b.WriteString(s[:i])
		n, err := parseExpr(s[i+3 : i+j])
		require.NoError(t, err, s)
		v, err := n(c)
		require.NoError(t, err, s)
		b.WriteString(str(v))
		s = s[i+j+2:]
	}
}

func TestExpressionEvaluator(t *testing.T) {
	c := &exprCtx{status: "failure", vars: map[string]any{
		"steps":  map[string]any{"smoke": map[string]any{"outcome": "failure", "outputs": map[string]any{"failed": "2"}}},
		"inputs": map[string]any{"target": "production", "empty": ""},
	}}
	for _, tc := range []struct {
		expr string
		want bool
	}{
		{"failure() && steps.smoke.outcome == 'failure'", true},
		{"success() && steps.smoke.outcome == 'failure'", false},
		{"steps.smoke.outcome == 'FAILURE'", true},
		{"steps.smoke.outputs.failed != '0' && steps.smoke.outputs.failed != ''", true},
		{"steps.nope.outputs.failed != ''", false},
		{"steps.nope.outputs.failed == ''", true},
		{"!cancelled() && inputs.target == 'production'", true},
		{"inputs.empty || 'x'", true},
		{"inputs.empty && 'x'", false},
		{"(inputs.target == 'staging') || (inputs.target == 'production')", true},
		{"startsWith(inputs.target, 'prod')", true},
		{"always()", true},
		{"steps.smoke.outputs.failed > 0", true},
		{"steps.nope.outputs.failed == 0", true},
		{"'abc' == 0", false},
	} {
		n, err := parseExpr(tc.expr)
		require.NoError(t, err, tc.expr)
		v, err := n(c)
		require.NoError(t, err, tc.expr)
		assert.Equal(t, tc.want, truthy(v), tc.expr)
	}
	// An `if:` without a status function is success() && (...).
	assert.False(t, evalIf(t, "steps.smoke.outcome == 'failure'", c))
	assert.True(t, evalIf(t, "${{ failure() && steps.smoke.outcome == 'failure' }}", c))
	assert.Equal(t, "a-production-", evalTemplate(t, "a-${{ inputs.target }}-${{ inputs.empty }}", c))
	_, err := parseExpr("fromJSON(x)")
	assert.Error(t, err, "an unsupported function is refused, never guessed")
	_, err = parseExpr("a == ")
	assert.Error(t, err)
}
