// Command release-pin is the part of release.yml that can be tested offline
// (internal/releasepin):
//
//	release-pin pin -from org/erlmcp-deploy[,owner/name] -to owner/name -sha SHA -version vX.Y.Z FILE...
//	    rewrite, in place, every `uses:` of our actions and reusable workflows in FILEs to
//	    owner/name/...@SHA # vX.Y.Z; fails when a FILE has none
//	release-pin floating -version vX.Y.Z [-C DIR]
//	    print the floating tags (vX, vX.Y) the release moves, one per line; say why for each
//	    (a ::notice::, or a ::warning:: for one that stays on a newer release)
//	release-pin latest -version vX.Y.Z [-C DIR]
//	    print true when no stable release tag of the repository is higher, else false
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/org/erlmcp-deploy/internal/releasepin"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: release-pin pin|floating|latest [flags]")
		return 2
	}
	fs := flag.NewFlagSet("release-pin "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	version := fs.String("version", "", "the release, vMAJOR.MINOR.PATCH[-PRERELEASE]")
	dir := fs.String("C", ".", "the git repository")
	from := fs.String("from", "", "comma-separated owner/name whose references are pinned")
	to := fs.String("to", "", "owner/name of the pinned references")
	sha := fs.String("sha", "", "commit the references are pinned to")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "::error::release-pin %s: %v\n", args[0], err)
		return 1
	}
	switch args[0] {
	case "pin":
		if fs.NArg() == 0 {
			return fail(fmt.Errorf("no file to pin"))
		}
		for _, f := range fs.Args() {
			src, err := os.ReadFile(f)
			if err != nil {
				return fail(err)
			}
			out, n, err := releasepin.Pin(src, strings.Split(*from, ","), *to, *sha, *version)
			if err != nil {
				return fail(err)
			}
			if n == 0 {
				return fail(fmt.Errorf("%s has no uses: of %s to pin", f, *from))
			}
			if err := os.WriteFile(f, out, 0o644); err != nil {
				return fail(err)
			}
			fmt.Fprintf(stderr, "%s: %d reference(s) pinned to %s@%s # %s\n", f, n, *to, *sha, *version)
		}
	case "floating":
		moves, err := releasepin.Moves(*dir, *version)
		if err != nil {
			return fail(err)
		}
		for _, m := range moves {
			level := "notice"
			if !m.Move {
				level = "warning"
			}
			fmt.Fprintf(stderr, "::%s::%s\n", level, m.Why)
			if m.Move {
				fmt.Fprintln(stdout, m.Tag)
			}
		}
	case "latest":
		latest, err := releasepin.Latest(*dir, *version)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintln(stdout, latest)
	default:
		fmt.Fprintf(stderr, "release-pin: unknown command %q (pin, floating, latest)\n", args[0])
		return 2
	}
	return 0
}
