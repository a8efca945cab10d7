package main

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTally(t *testing.T) {
	ok := ran{verdict: "rolled-back", correct: true}
	for _, tc := range []struct {
		name           string
		runs           []ran
		quoted, judged bool
		want           string
	}{
		{"no runs", nil, true, true, "—"},
		{"all correct, plain", []ran{ok, ok, ok}, false, true, "rolled-back ×3 ✓"},
		{"quoted, not judged (a peer)", []ran{ok, {verdict: "failed, undone"}}, true, false, "`rolled-back`, `failed, undone`"},
		{"one wrong", []ran{ok, {verdict: "succeeded"}}, true, true, "`rolled-back`, `succeeded` **✗**"},
		{"a bench error is never correct", []ran{ok, {verdict: "rolled-back", correct: true, err: errors.New("x")}}, false, true, "rolled-back, bench error **✗**"},
		{"a pipe stays in its cell", []ran{{verdict: "a|b", correct: true}}, true, true, "`a\\|b` ✓"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tally(tc.runs, tc.quoted, tc.judged))
		})
	}
}
