package fleet

import (
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/ghaction"
)

func TestReportsCountContextsNotProblems(t *testing.T) {
	rt := ghaction.New(actionspec.Rollback(), ghaction.WithWriter(io.Discard), ghaction.WithGetenv(func(string) string { return "" }))
	var r Reports
	two := ghaction.InputErrors{{Name: "to", Reason: "bad"}, {Name: "confirm", Reason: "bad"}}
	r.Add("prod-eu", rt.Fork(actionspec.Rollback(), "[prod-eu] ", false, nil), two)
	r.Add("prod-us", rt.Fork(actionspec.Rollback(), "[prod-us] ", false, nil), errors.New("rollback failed"))
	assert.Equal(t, 1, r.Refused(), "one context found bad input, with two problems")
	assert.Len(t, r.InputErrors(), 2)
	assert.Len(t, r.Details(), 2)
}
