package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestRoundOrder: every run of a round, the peer's only where it applies,
// rotated by the round so each run takes each place across the rounds.
func TestRoundOrder(t *testing.T) {
	peer := func(i int) bool { return i == 1 }
	assert.Equal(t, []benchJob{{0, "ours"}, {1, "ours"}, {1, "kubectl"}}, roundOrder(2, peer, 0, 3))
	assert.Equal(t, []benchJob{{1, "ours"}, {1, "kubectl"}, {0, "ours"}}, roundOrder(2, peer, 1, 3))
	assert.Equal(t, []benchJob{{1, "kubectl"}, {0, "ours"}, {1, "ours"}}, roundOrder(2, peer, 2, 3))
	assert.Empty(t, roundOrder(0, peer, 1, 3))
}
