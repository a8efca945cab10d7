// Package rollback wires the rollback action's inputs to its engine and its outputs.
package rollback

import (
	"context"
	"errors"

	"github.com/org/erlmcp-deploy/internal/ghaction"
)

// ErrNotImplemented is returned until the rollback engine lands.
var ErrNotImplemented = errors.New("rollback: not implemented yet")

// Run reads and validates every input, then runs the rollback action.
func Run(ctx context.Context, rt *ghaction.Runtime) error {
	if err := rt.ValidateAll(); err != nil {
		return err
	}
	return ErrNotImplemented
}
