// Command gen writes every action.yml, and the input/output tables of README.md, from internal/actionspec.
//
//	go run ./internal/actionspec/gen [-root DIR]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/org/erlmcp-deploy/internal/actionspec"
)

func main() {
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	files, err := actionspec.Files()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	readme := filepath.Join(*root, "README.md")
	current, err := os.ReadFile(readme)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	updated, err := actionspec.UpdateReadme(current)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	files["README.md"] = updated
	for path, content := range files {
		full := filepath.Join(*root, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
		if err := os.WriteFile(full, content, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
	}
}
