// Command erlmcp-deploy-preview is the preview action's binary; the launcher runs it.
package main

import (
	"os"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/app/preview"
	"github.com/org/erlmcp-deploy/internal/ghaction"
)

var version = "dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "--version" {
		os.Stdout.WriteString(version + "\n")
		return
	}
	os.Exit(ghaction.Main(actionspec.Preview(), preview.Run))
}
