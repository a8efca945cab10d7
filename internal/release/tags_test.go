package release

import "testing"

func TestPreviousTag(t *testing.T) {
	tags := []string{"v0.9.0", "v1.0.0", "v1.1.0-rc.1", "v1.1.0-rc.2", "v1.1.0", "v1.2.0-beta.1", "v1.2.0",
		"latest", "nightly-2026-01-01", "v1.10.0", "1.3.0", "api-v5.0.0", "api-v4.1.0", "api-v4.1.0-rc.1", "v2", "v1.9.0+build.7"}
	tests := []struct {
		tag, prefix, want string
		wantErr           bool
	}{
		{tag: "v1.2.0", want: "v1.1.0"},
		{tag: "v1.1.0", want: "v1.0.0"},           // stable skips v1.1.0-rc.*
		{tag: "v1.1.0-rc.2", want: "v1.1.0-rc.1"}, // prerelease picks a lower prerelease
		{tag: "v1.1.0-rc.1", want: "v1.0.0"},      // ...or the stable before it
		{tag: "v1.2.0-beta.1", want: "v1.1.0"},    // nearest lower is stable here
		{tag: "v1.10.0", want: "v1.9.0+build.7"},  // numeric order, not lexical
		{tag: "v1.4.0", want: "1.3.0"},            // tag need not exist; v-less tags count
		{tag: "v0.9.0", want: ""},                 // first release
		{tag: "api-v5.0.0", prefix: "api-", want: "api-v4.1.0"},
		{tag: "api-v4.1.0", prefix: "api-", want: ""}, // other prefixes ignored
		{tag: "v3.0.0", want: "v2"},                   // "v2" is valid shorthand semver
		{tag: "latest", wantErr: true},
		{tag: "v1.2.0", prefix: "api-", wantErr: true},
	}
	for _, tt := range tests {
		got, err := PreviousTag(tags, tt.tag, tt.prefix)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("PreviousTag(%q, %q) = %q, %v; want %q, err=%v", tt.tag, tt.prefix, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestIsPrerelease(t *testing.T) {
	for tag, want := range map[string]bool{
		"v1.2.0": false, "1.2.0": false, "v1.2.0-rc.1": true, "erlmcp-v2.0.0-beta": true,
		"erlmcp-v2.0.0": false, "v1.0.0+build.1": false, "nightly": false, "": false,
	} {
		if got := IsPrerelease(tag); got != want {
			t.Errorf("IsPrerelease(%q) = %v, want %v", tag, got, want)
		}
	}
}

func FuzzPreviousTag(f *testing.F) {
	f.Add("v1.0.0\nv1.1.0-rc.1\nv0.9.0", "v1.1.0", "")
	f.Add("api-v1.0.0\nv2.0.0", "api-v1.0.1", "api-")
	f.Add("\x00v\nv1..0", "v", "v")
	f.Fuzz(func(t *testing.T, list, tag, prefix string) {
		tags := splitLines(list)
		got, err := PreviousTag(tags, tag, prefix)
		IsPrerelease(tag)
		if err != nil || got == "" {
			return
		}
		found := false
		for _, x := range tags {
			found = found || x == got
		}
		if !found {
			t.Fatalf("previous tag %q is not one of the tags", got)
		}
		if got == tag {
			t.Fatalf("previous tag is the tag itself")
		}
	})
}
