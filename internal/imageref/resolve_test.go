package imageref_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/imageref"
)

// countingTransport counts requests so tests can tell whether the network was used.
type countingTransport struct {
	n    atomic.Int64
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// newRegistry starts an in-process registry holding a random image at acme/erlmcp:1.2.0.
func newRegistry(t *testing.T) (host string, img v1.Image) {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host = strings.TrimPrefix(srv.URL, "http://")

	img, err := random.Image(256, 1)
	require.NoError(t, err)
	tag, err := name.NewTag(host+"/acme/erlmcp:1.2.0", name.Insecure)
	require.NoError(t, err)
	require.NoError(t, remote.Write(tag, img, remote.WithAuth(authn.Anonymous)))
	return host, img
}

func TestResolve(t *testing.T) {
	host, img := newRegistry(t)
	want, err := img.Digest()
	require.NoError(t, err)

	tests := []struct {
		name    string
		ref     string
		want    string
		wantErr []string
		notFnd  bool
	}{
		{name: "tag resolves to the pushed digest", ref: host + "/acme/erlmcp:1.2.0", want: want.String()},
		{name: "missing tag", ref: host + "/acme/erlmcp:9.9.9", wantErr: []string{"resolve " + host + "/acme/erlmcp:9.9.9", "not found"}, notFnd: true},
		{name: "missing repository", ref: host + "/acme/nope:1.2.0", wantErr: []string{"resolve " + host + "/acme/nope:1.2.0", "not found"}, notFnd: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref, err := imageref.Parse(tt.ref)
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := imageref.Resolve(ctx, ref, imageref.WithKeychain(authn.NewMultiKeychain()))
			if tt.wantErr != nil {
				require.Error(t, err)
				for _, s := range tt.wantErr {
					assert.Contains(t, err.Error(), s)
				}
				assert.Equal(t, tt.notFnd, errors.Is(err, imageref.ErrNotFound))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, ref.Name()+":"+ref.Tag+"@"+got, ref.WithDigest(got).String())
		})
	}
}

func TestResolveFallsBackToGetWithoutDigestHeader(t *testing.T) {
	host, img := newRegistry(t)
	want, err := img.Digest()
	require.NoError(t, err)
	// A proxy that strips Docker-Content-Digest from HEAD answers.
	var heads, gets atomic.Int64
	tr := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err == nil && strings.Contains(r.URL.Path, "/manifests/") {
			switch r.Method {
			case http.MethodHead:
				heads.Add(1)
				resp.Header.Del("Docker-Content-Digest")
			case http.MethodGet:
				gets.Add(1)
			}
		}
		return resp, err
	})
	ref, err := imageref.Parse(host + "/acme/erlmcp:1.2.0")
	require.NoError(t, err)
	got, err := imageref.Resolve(context.Background(), ref, imageref.WithTransport(tr), imageref.WithKeychain(authn.NewMultiKeychain()))
	require.NoError(t, err)
	assert.Equal(t, want.String(), got)
	assert.EqualValues(t, 1, heads.Load())
	assert.EqualValues(t, 1, gets.Load())
}

func TestResolveUnauthorized(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`)
	}))
	defer srv.Close()
	ref, err := imageref.Parse(strings.TrimPrefix(srv.URL, "http://") + "/acme/erlmcp:1.2.0")
	require.NoError(t, err)
	_, err = imageref.Resolve(context.Background(), ref, imageref.WithKeychain(authn.NewMultiKeychain()))
	require.Error(t, err)
	assert.ErrorIs(t, err, imageref.ErrUnauthorized)
	assert.NotErrorIs(t, err, imageref.ErrNotFound)
	assert.Contains(t, err.Error(), "resolve "+ref.String()+": unauthorized")
}

func TestResolveDigestNeedsNoServer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	host := strings.TrimPrefix(srv.URL, "http://")
	srv.Close() // nothing listens there any more

	tr := &countingTransport{next: http.DefaultTransport}
	for _, s := range []string{host + "/acme/erlmcp@" + sha, host + "/acme/erlmcp:1.2.0@" + sha} {
		ref, err := imageref.Parse(s)
		require.NoError(t, err)
		got, err := imageref.Resolve(context.Background(), ref, imageref.WithTransport(tr))
		require.NoError(t, err)
		assert.Equal(t, sha, got)
	}
	assert.Zero(t, tr.n.Load())

	// The same server with a tag does need the network, and says so.
	ref, err := imageref.Parse(host + "/acme/erlmcp:1.2.0")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = imageref.Resolve(ctx, ref, imageref.WithTransport(tr), imageref.WithKeychain(authn.NewMultiKeychain()))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "resolve "+host+"/acme/erlmcp:1.2.0")
	assert.NotZero(t, tr.n.Load())
}

func TestResolveWithoutTagOrDigest(t *testing.T) {
	_, err := imageref.Resolve(context.Background(), imageref.Ref{Registry: "localhost:1", Repository: "x"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no tag or digest")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A private registry: anonymous is refused, the credentials are accepted.
func TestResolveWithCredentials(t *testing.T) {
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "octocat" || p != "ghs_secret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(256, 1)
	require.NoError(t, err)
	tag, err := name.NewTag(host+"/acme/private:1.0.0", name.Insecure)
	require.NoError(t, err)
	require.NoError(t, remote.Write(tag, img, remote.WithAuth(&authn.Basic{Username: "octocat", Password: "ghs_secret"})))
	want, err := img.Digest()
	require.NoError(t, err)

	ref, err := imageref.Parse(host + "/acme/private:1.0.0")
	require.NoError(t, err)
	_, err = imageref.Resolve(context.Background(), ref, imageref.WithKeychain(authn.NewMultiKeychain()))
	require.ErrorIs(t, err, imageref.ErrUnauthorized, "anonymous is refused")
	got, err := imageref.Resolve(context.Background(), ref, imageref.WithKeychain(imageref.Basic("octocat", "ghs_secret")))
	require.NoError(t, err)
	assert.Equal(t, want.String(), got)
}
