// Package smoke wires the smoke action's inputs to its engine and its outputs.
package smoke

import (
	"context"
	"errors"

	"github.com/org/erlmcp-deploy/internal/ghaction"
)

// ErrNotImplemented is returned until the smoke engine lands.
var ErrNotImplemented = errors.New("smoke: not implemented yet")

// Run reads and validates every input, then runs the smoke action.
func Run(ctx context.Context, rt *ghaction.Runtime) error {
	if err := rt.ValidateAll(); err != nil {
		return err
	}
	return ErrNotImplemented
}
