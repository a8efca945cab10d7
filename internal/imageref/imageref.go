// Package imageref parses container image references and resolves tags to
// manifest digests, so a deployment can pin exactly what it rolled out.
//
// References keep the text the user wrote (registry host and port, Docker Hub
// short names) so they can go into a Kubernetes manifest unchanged. A
// reference must name a tag or a digest: an implicit :latest is refused.
package imageref

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/google/go-containerregistry/pkg/name"
)

// Ref is a parsed image reference; empty fields were not given.
type Ref struct {
	// Registry is the registry host with optional port as written ("" for Docker Hub short names).
	Registry string
	// Repository is the repository path inside the registry, e.g. "acme/erlmcp".
	Repository string
	// Tag is the tag without the colon, e.g. "1.2.0".
	Tag string
	// Digest is the manifest digest, e.g. "sha256:<64 hex>".
	Digest string
}

var (
	// pathComponent is one repository path component per the OCI distribution spec.
	pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	tagPattern    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	hexPattern    = regexp.MustCompile(`^[a-f0-9]+$`)
	portPattern   = regexp.MustCompile(`^[0-9]{1,5}$`)
	hostPattern   = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$`)
)

// digestHexLen is the hex length of each supported digest algorithm.
var digestHexLen = map[string]int{"sha256": 64, "sha512": 128}

const maxRepositoryLen = 255

// Parse parses repo:tag, repo@sha256:<hex> or repo:tag@sha256:<hex>, with an
// optional registry host[:port] prefix; a reference without tag or digest is
// an error.
func Parse(s string) (Ref, error) {
	r, err := parse(s)
	if err != nil {
		return Ref{}, fmt.Errorf("image reference %q: %w", s, err)
	}
	return r, nil
}

func parse(s string) (Ref, error) {
	if s == "" {
		return Ref{}, fmt.Errorf("empty image reference")
	}
	if strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return Ref{}, fmt.Errorf("must not contain whitespace")
	}
	var r Ref
	rest := s
	if i := strings.IndexByte(s, '@'); i >= 0 {
		rest, r.Digest = s[:i], s[i+1:]
		if err := checkDigest(r.Digest); err != nil {
			return Ref{}, err
		}
	}
	// A colon after the last slash separates the tag; one before it is a registry port.
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && i > strings.LastIndexByte(rest, '/') {
		rest, r.Tag = rest[:i], rest[i+1:]
		if err := checkTag(r.Tag); err != nil {
			return Ref{}, err
		}
	}
	r.Repository = rest
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		if first := rest[:i]; first == "localhost" || strings.ContainsAny(first, ".:[") {
			r.Registry, r.Repository = first, rest[i+1:]
			if err := checkRegistry(r.Registry); err != nil {
				return Ref{}, err
			}
		}
	}
	if err := checkRepository(r.Repository); err != nil {
		return Ref{}, err
	}
	if r.Tag == "" && r.Digest == "" {
		return Ref{}, fmt.Errorf("no tag or digest: deploying an implicit :latest is refused; give repo:tag or repo@sha256:...")
	}
	// Cross-check with go-containerregistry, which is what Resolve uses.
	if _, err := name.ParseReference(r.String()); err != nil {
		return Ref{}, err
	}
	return r, nil
}

func checkDigest(d string) error {
	algo, hex, ok := strings.Cut(d, ":")
	if !ok || algo == "" {
		return fmt.Errorf("digest %q must look like sha256:<64 hex characters>", d)
	}
	want, known := digestHexLen[algo]
	if !known {
		return fmt.Errorf("digest %q: unsupported algorithm %q (want sha256 or sha512)", d, algo)
	}
	if len(hex) != want || !hexPattern.MatchString(hex) {
		return fmt.Errorf("digest %q: %s needs %d lowercase hex characters, got %q (%d characters)", d, algo, want, hex, len(hex))
	}
	return nil
}

func checkTag(t string) error {
	if !tagPattern.MatchString(t) {
		return fmt.Errorf("tag %q is invalid: up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'", t)
	}
	return nil
}

func checkRegistry(reg string) error {
	host, port := reg, ""
	if strings.HasPrefix(reg, "[") {
		end := strings.IndexByte(reg, ']')
		if end < 0 {
			return fmt.Errorf("registry %q: unterminated IPv6 address", reg)
		}
		host, port = reg[:end+1], strings.TrimPrefix(reg[end+1:], ":")
		if reg[end+1:] != "" && !strings.HasPrefix(reg[end+1:], ":") {
			return fmt.Errorf("registry %q: unexpected text after IPv6 address", reg)
		}
	} else if h, p, ok := strings.Cut(reg, ":"); ok {
		host, port = h, p
		if port == "" {
			return fmt.Errorf("registry %q: empty port after ':'", reg)
		}
	}
	if host == "" {
		return fmt.Errorf("registry %q: empty host", reg)
	}
	if !strings.HasPrefix(host, "[") && !hostPattern.MatchString(host) {
		return fmt.Errorf("registry %q: host %q must be a DNS name or IP address", reg, host)
	}
	if port != "" && !portPattern.MatchString(port) {
		return fmt.Errorf("registry %q: port %q must be a number", reg, port)
	}
	return nil
}

func checkRepository(repo string) error {
	if repo == "" {
		return fmt.Errorf("missing repository name")
	}
	if len(repo) > maxRepositoryLen {
		return fmt.Errorf("repository is longer than %d characters", maxRepositoryLen)
	}
	if strings.ToLower(repo) != repo {
		return fmt.Errorf("repository %q must be lowercase", repo)
	}
	for _, c := range strings.Split(repo, "/") {
		if !pathComponent.MatchString(c) {
			return fmt.Errorf("repository %q: path component %q must be lowercase letters and digits separated by '.', '_', '__' or '-'", repo, c)
		}
	}
	return nil
}

// Name returns registry/repository (just the repository for Docker Hub short names).
func (r Ref) Name() string {
	if r.Registry == "" {
		return r.Repository
	}
	return r.Registry + "/" + r.Repository
}

// String returns the reference as written for Kubernetes: name[:tag][@digest].
func (r Ref) String() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// WithDigest returns a copy of r pinned to digest d, keeping the tag for readability.
func (r Ref) WithDigest(d string) Ref {
	r.Digest = d
	return r
}
