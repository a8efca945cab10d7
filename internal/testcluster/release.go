package testcluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ExampleRelease copies the erlmcp release (examples/kubernetes/erlmcp, not
// its kustomization) to a new directory without its namespaces, so it lands
// in the namespace a test deploys to; files replaces whole files (name →
// text, "" drops the file, a new name adds one) and replace holds old, new
// pairs replaced in every file.
func ExampleRelease(tb testing.TB, files map[string]string, replace ...string) string {
	tb.Helper()
	root, err := RepoRoot()
	if err != nil {
		tb.Fatal(err)
	}
	src, err := filepath.Glob(filepath.Join(root, "examples", "kubernetes", "erlmcp", "*.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, f := range src {
		name := filepath.Base(f)
		if name == "kustomization.yaml" {
			continue
		}
		seen[name] = true
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		text := strings.ReplaceAll(string(b), "  namespace: erlmcp\n", "")
		for i := 0; i+1 < len(replace); i += 2 {
			text = strings.ReplaceAll(text, replace[i], replace[i+1])
		}
		if e, ok := files[name]; ok {
			if e == "" {
				continue
			}
			text = e
		}
		write(name, text)
	}
	for name, text := range files {
		if !seen[name] && text != "" {
			write(name, text)
		}
	}
	return dir
}
