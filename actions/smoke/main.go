// Command erlmcp-deploy-smoke is the smoke action's binary; the launcher runs it.
package main

import (
	"os"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/app/smoke"
	"github.com/org/erlmcp-deploy/internal/ghaction"
)

var version = "dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "--version" {
		os.Stdout.WriteString(version + "\n")
		return
	}
	os.Exit(ghaction.Main(actionspec.Smoke(), smoke.Run))
}
