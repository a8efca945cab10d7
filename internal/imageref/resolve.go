package imageref

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

var (
	// ErrNotFound marks a Resolve failure where the registry has no such repository or tag.
	ErrNotFound = errors.New("not found")
	// ErrUnauthorized marks a Resolve failure where the registry refused the credentials (401/403).
	ErrUnauthorized = errors.New("unauthorized")
)

// Option configures Resolve.
type Option func(*options)

type options struct {
	keychain  authn.Keychain
	transport http.RoundTripper
}

// WithKeychain sets where registry credentials come from (default authn.DefaultKeychain).
func WithKeychain(k authn.Keychain) Option {
	return func(o *options) { o.keychain = k }
}

// WithTransport sets the HTTP transport used to talk to the registry (default remote.DefaultTransport).
func WithTransport(t http.RoundTripper) Option {
	return func(o *options) { o.transport = t }
}

// Basic is a keychain that gives every registry the same username and
// password (the registry-username / registry-password inputs; for ghcr.io:
// the actor and a GITHUB_TOKEN with packages: read).
func Basic(username, password string) authn.Keychain {
	return basicKeychain{authn.FromConfig(authn.AuthConfig{Username: username, Password: password})}
}

type basicKeychain struct{ auth authn.Authenticator }

func (k basicKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.auth, nil }

// Resolve returns the manifest digest ("sha256:...") that ref's tag points to;
// a ref that already carries a digest is returned as is without a network call.
func Resolve(ctx context.Context, ref Ref, opts ...Option) (string, error) {
	if ref.Digest != "" {
		return ref.Digest, nil
	}
	if ref.Tag == "" {
		return "", fmt.Errorf("resolve %s: no tag or digest to resolve", ref)
	}
	o := options{keychain: authn.DefaultKeychain}
	for _, opt := range opts {
		opt(&o)
	}
	var nameOpts []name.Option
	if isLoopback(ref.Registry) {
		nameOpts = append(nameOpts, name.Insecure)
	}
	tag, err := name.NewTag(ref.Name()+":"+ref.Tag, nameOpts...)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", ref, err)
	}
	remoteOpts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(o.keychain),
		remote.WithUserAgent("erlmcp-deploy"),
	}
	if o.transport != nil {
		remoteOpts = append(remoteOpts, remote.WithTransport(o.transport))
	}

	desc, err := remote.Head(tag, remoteOpts...)
	if err == nil && desc.Digest.Hex != "" {
		return desc.Digest.String(), nil
	}
	if ctx.Err() != nil {
		return "", fmt.Errorf("resolve %s: %w", ref, ctx.Err())
	}
	// HEAD gave no digest (or failed without a body to explain why): GET the manifest.
	got, err := remote.Get(tag, remoteOpts...)
	if err != nil {
		return "", classify(ref, err)
	}
	return got.Digest.String(), nil
}

// classify wraps a registry error with ErrNotFound or ErrUnauthorized when the
// registry's answer says so.
func classify(ref Ref, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case te.StatusCode == http.StatusNotFound || hasCode(te, transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode):
			return fmt.Errorf("resolve %s: %w: %w", ref, ErrNotFound, err)
		case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden ||
			hasCode(te, transport.UnauthorizedErrorCode, transport.DeniedErrorCode):
			return fmt.Errorf("resolve %s: %w (check the registry credentials): %w", ref, ErrUnauthorized, err)
		}
	}
	return fmt.Errorf("resolve %s: %w", ref, err)
}

func hasCode(te *transport.Error, codes ...transport.ErrorCode) bool {
	for _, d := range te.Errors {
		for _, c := range codes {
			if d.Code == c {
				return true
			}
		}
	}
	return false
}

// isLoopback reports whether registry (host[:port]) is a loopback address
// that is spoken to over plain HTTP.
func isLoopback(registry string) bool {
	host := registry
	if strings.HasPrefix(host, "[") {
		if end := strings.IndexByte(host, ']'); end >= 0 {
			host = host[:end+1]
		}
	} else if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	switch strings.ToLower(host) {
	case "localhost", "127.0.0.1", "[::1]":
		return true
	}
	return false
}
