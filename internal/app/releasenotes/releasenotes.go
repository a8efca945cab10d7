// Package releasenotes wires the release-notes action's inputs to its engine and its outputs.
package releasenotes

import (
	"context"
	"errors"

	"github.com/org/erlmcp-deploy/internal/ghaction"
)

// ErrNotImplemented is returned until the release-notes engine lands.
var ErrNotImplemented = errors.New("release-notes: not implemented yet")

// Run reads and validates every input, then runs the release-notes action.
func Run(ctx context.Context, rt *ghaction.Runtime) error {
	if err := rt.ValidateAll(); err != nil {
		return err
	}
	return ErrNotImplemented
}
