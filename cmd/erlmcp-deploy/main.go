// Command erlmcp-deploy runs the deploy, smoke, rollback, release-notes and
// preview actions from a terminal, with flags named exactly like the action inputs.
package main

import (
	"context"
	"os"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/app/deploy"
	"github.com/org/erlmcp-deploy/internal/app/preview"
	"github.com/org/erlmcp-deploy/internal/app/releasenotes"
	"github.com/org/erlmcp-deploy/internal/app/rollback"
	"github.com/org/erlmcp-deploy/internal/app/smoke"
	"github.com/org/erlmcp-deploy/internal/cli"
	"github.com/org/erlmcp-deploy/internal/ghaction"
)

var version = "dev"

func main() {
	ctx, stop := ghaction.SignalContext(context.Background())
	code := cli.Main(ctx, os.Args[1:], cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, LookupEnv: os.LookupEnv, Version: version}, Commands())
	stop()
	os.Exit(code)
}

// Commands binds every action to its code.
func Commands() []cli.Command {
	return []cli.Command{
		{Spec: actionspec.Deploy(), Run: deploy.Run},
		{Spec: actionspec.Rollback(), Run: rollback.Run},
		{Spec: actionspec.Smoke(), Run: smoke.Run},
		{Spec: actionspec.ReleaseNotes(), Run: releasenotes.Run},
		{Spec: actionspec.Preview(), Run: preview.Run},
	}
}
