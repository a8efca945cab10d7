// Package deploy wires the deploy action's inputs to its engine and its outputs.
package deploy

import (
	"context"
	"errors"

	"github.com/org/erlmcp-deploy/internal/ghaction"
)

// ErrNotImplemented is returned until the deploy engine lands.
var ErrNotImplemented = errors.New("deploy: not implemented yet")

// Run reads and validates every input, then runs the deploy action.
func Run(ctx context.Context, rt *ghaction.Runtime) error {
	if err := rt.ValidateAll(); err != nil {
		return err
	}
	return ErrNotImplemented
}
