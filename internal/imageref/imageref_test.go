package imageref_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/imageref"
)

var (
	hex64  = strings.Repeat("ab12", 16)
	sha    = "sha256:" + hex64
	sha512 = "sha512:" + strings.Repeat("0f", 64)
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want imageref.Ref
		name string // want.Name(), "" means registry/repository
	}{
		{in: "ghcr.io/acme/erlmcp:1.2.0", want: imageref.Ref{Registry: "ghcr.io", Repository: "acme/erlmcp", Tag: "1.2.0"}},
		{in: "localhost:5000/acme/erlmcp:1.2.0", want: imageref.Ref{Registry: "localhost:5000", Repository: "acme/erlmcp", Tag: "1.2.0"}},
		{in: "registry.example.com:5000/team/app:1.2", want: imageref.Ref{Registry: "registry.example.com:5000", Repository: "team/app", Tag: "1.2"}},
		{in: "registry.example.com:5000/app@" + sha, want: imageref.Ref{Registry: "registry.example.com:5000", Repository: "app", Digest: sha}},
		{in: "ghcr.io/acme/erlmcp@" + sha, want: imageref.Ref{Registry: "ghcr.io", Repository: "acme/erlmcp", Digest: sha}},
		{in: "ghcr.io/acme/erlmcp:1.2.0@" + sha, want: imageref.Ref{Registry: "ghcr.io", Repository: "acme/erlmcp", Tag: "1.2.0", Digest: sha}},
		{in: "ghcr.io/acme/erlmcp@" + sha512, want: imageref.Ref{Registry: "ghcr.io", Repository: "acme/erlmcp", Digest: sha512}},
		{in: "erlmcp:1.0", want: imageref.Ref{Repository: "erlmcp", Tag: "1.0"}, name: "erlmcp"},
		{in: "acme/erlmcp:1.0", want: imageref.Ref{Repository: "acme/erlmcp", Tag: "1.0"}, name: "acme/erlmcp"},
		{in: "docker.io/library/erlmcp:1.0", want: imageref.Ref{Registry: "docker.io", Repository: "library/erlmcp", Tag: "1.0"}},
		{in: "localhost/erlmcp:dev", want: imageref.Ref{Registry: "localhost", Repository: "erlmcp", Tag: "dev"}},
		{in: "127.0.0.1:35000/e:v1", want: imageref.Ref{Registry: "127.0.0.1:35000", Repository: "e", Tag: "v1"}},
		{in: "[::1]:5000/erlmcp:v1", want: imageref.Ref{Registry: "[::1]:5000", Repository: "erlmcp", Tag: "v1"}},
		{in: "Registry.Example.com/a/b-c__d.e:V_1.2-rc.1", want: imageref.Ref{Registry: "Registry.Example.com", Repository: "a/b-c__d.e", Tag: "V_1.2-rc.1"}},
		{in: "erlmcp:5000", want: imageref.Ref{Repository: "erlmcp", Tag: "5000"}, name: "erlmcp"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := imageref.Parse(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.in, got.String(), "String keeps the reference as written")
			wantName := tt.name
			if wantName == "" {
				wantName = tt.want.Registry + "/" + tt.want.Repository
			}
			assert.Equal(t, wantName, got.Name())
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"", "empty image reference"},
		{"ghcr.io/acme/erlmcp", "no tag or digest: deploying an implicit :latest is refused"},
		{"registry.example.com:5000/team/app", "no tag or digest"},
		{"localhost:5000/app", "no tag or digest"},
		{"erlmcp", "no tag or digest"},
		{"ghcr.io/acme/erlmcp:", "tag \"\" is invalid"},
		{"ghcr.io/acme/erlmcp:-x", "tag \"-x\" is invalid"},
		{"ghcr.io/acme/erlmcp:" + strings.Repeat("a", 129), "is invalid"},
		{"ghcr.io/acme/erlmcp :1.0", "whitespace"},
		{" ghcr.io/acme/erlmcp:1.0", "whitespace"},
		{"ghcr.io/acme/erlmcp:1.0\n", "whitespace"},
		{"ghcr.io/Acme/erlmcp:1.0", "must be lowercase"},
		{"ERLMCP:1.0", "must be lowercase"},
		{"ghcr.io/acme//erlmcp:1.0", "path component \"\""},
		{"ghcr.io/acme/-erlmcp:1.0", "path component \"-erlmcp\""},
		{"ghcr.io/acme/erlmcp@sha256:" + hex64[:63], "needs 64 lowercase hex characters"},
		{"ghcr.io/acme/erlmcp@sha256:" + hex64 + "00", "needs 64 lowercase hex characters"},
		{"ghcr.io/acme/erlmcp@sha256:" + strings.ToUpper(hex64), "needs 64 lowercase hex characters"},
		{"ghcr.io/acme/erlmcp@md5:d41d8cd98f00b204e9800998ecf8427e", "unsupported algorithm \"md5\""},
		{"ghcr.io/acme/erlmcp@" + hex64, "must look like sha256:"},
		{"ghcr.io/acme/erlmcp@" + sha + "@" + sha, "needs 64"},
		{"registry.example.com:port/app:1", "port \"port\" must be a number"},
		{"registry.example.com:/app:1", "empty port"},
		{"reg_istry.example.com/app:1", "must be a DNS name or IP address"},
		{":1.0", "missing repository name"},
		{"@" + sha, "missing repository name"},
		{"ghcr.io/:1.0", "missing repository name"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := imageref.Parse(tt.in)
			require.Error(t, err)
			assert.Equal(t, imageref.Ref{}, got)
			assert.Contains(t, err.Error(), tt.want)
			assert.True(t, strings.HasPrefix(err.Error(), "image reference "), err.Error())
		})
	}
}

func TestWithDigest(t *testing.T) {
	r, err := imageref.Parse("localhost:5000/acme/erlmcp:1.2.0")
	require.NoError(t, err)
	pinned := r.WithDigest(sha)
	assert.Equal(t, "localhost:5000/acme/erlmcp:1.2.0@"+sha, pinned.String())
	assert.Equal(t, "", r.Digest, "WithDigest does not modify the receiver")
	back, err := imageref.Parse(pinned.String())
	require.NoError(t, err)
	assert.Equal(t, pinned, back)
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"ghcr.io/acme/erlmcp:1.2.0",
		"localhost:5000/acme/erlmcp:1.2.0",
		"registry.example.com:5000/team/app",
		"ghcr.io/acme/erlmcp@" + sha,
		"ghcr.io/acme/erlmcp:1.2.0@" + sha,
		"erlmcp:1.0",
		"[::1]:5000/erlmcp:v1",
		"a@b@c:d",
		"UPPER/case:tag",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := imageref.Parse(s)
		if err != nil {
			return
		}
		if r.Tag == "" && r.Digest == "" {
			t.Fatalf("Parse(%q) accepted a reference without tag or digest", s)
		}
		again, err := imageref.Parse(r.String())
		if err != nil {
			t.Fatalf("Parse(%q) ok but Parse(String()=%q) failed: %v", s, r.String(), err)
		}
		if again != r {
			t.Fatalf("round trip of %q: %+v != %+v", s, again, r)
		}
	})
}
