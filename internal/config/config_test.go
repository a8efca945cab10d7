package config_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/org/erlmcp-deploy/internal/config"
)

const example = `# optional: applies to every environment
defaults:
  namespace: erlmcp
  timeout: 10m
environments:
  staging:
    namespace: erlmcp-staging
    health-url: https://erlmcp.staging.example.com/health
    timeout: 5m
  production:
    context: prod-eks
    fail-fast: true
    mcp-expect-tools: [echo, add]   # a list becomes newline-joined
`

func write(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "erlmcp-deploy.yml")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		content string
		env     string
		want    map[string]string
		wantErr []string // substrings of the error, file path is always checked
	}{
		{
			name: "environment overrides defaults", content: example, env: "staging",
			want: map[string]string{
				"namespace":  "erlmcp-staging",
				"timeout":    "5m",
				"health-url": "https://erlmcp.staging.example.com/health",
			},
		},
		{
			name: "defaults fill in and lists are joined", content: example, env: "production",
			want: map[string]string{
				"namespace":        "erlmcp",
				"timeout":          "10m",
				"context":          "prod-eks",
				"fail-fast":        "true",
				"mcp-expect-tools": "echo\nadd",
			},
		},
		{
			name: "scalar types keep their text",
			content: `environments:
  dev:
    replicas: 3
    ratio: 0.50
    enabled: yes
    off: false
    empty:
    nothing: ~
    quoted: "007"
    block: |
      line1
      line2
    hex: 0x1F
    date: 2024-01-02
    list:
      - 1
      - true
      - b
    none: []
`,
			env: "dev",
			want: map[string]string{
				"replicas": "3", "ratio": "0.50", "enabled": "yes", "off": "false",
				"empty": "", "nothing": "", "quoted": "007", "block": "line1\nline2\n",
				"hex": "0x1F", "date": "2024-01-02", "list": "1\ntrue\nb", "none": "",
			},
		},
		{
			name:    "defaults only serve any environment",
			content: "defaults:\n  namespace: erlmcp\n",
			env:     "whatever",
			want:    map[string]string{"namespace": "erlmcp"},
		},
		{
			name:    "defaults only serve an empty environment name",
			content: "defaults:\n  namespace: erlmcp\n",
			want:    map[string]string{"namespace": "erlmcp"},
		},
		{
			name:    "empty file",
			content: "# nothing yet\n",
			env:     "staging",
			want:    map[string]string{},
		},
		{
			name: "empty environment entry gets defaults",
			content: `defaults: {namespace: erlmcp}
environments:
  staging:
`,
			env:  "staging",
			want: map[string]string{"namespace": "erlmcp"},
		},
		{
			name: "anchors and merge keys",
			content: `environments:
  base: &base
    namespace: shared
    timeout: 1m
  canary:
    <<: *base
    timeout: 2m
`,
			env:  "canary",
			want: map[string]string{"namespace": "shared", "timeout": "2m"},
		},
		{
			name: "unknown environment lists the defined ones", content: example, env: "qa",
			wantErr: []string{`environment "qa" is not defined`, "production, staging"},
		},
		{
			name: "empty environment name with environments", content: example, env: "",
			wantErr: []string{"no environment given", "production, staging"},
		},
		{
			name: "unknown top-level key", content: "defaults: {}\nenvironment:\n  staging: {}\n", env: "staging",
			wantErr: []string{":2:", `unknown top-level key "environment"`, "defaults, environments"},
		},
		{
			name: "nested mapping value names key and line",
			content: `environments:
  staging:
    namespace: a
    x:
      y: z
`,
			env:     "staging",
			wantErr: []string{":4:", `key "x" must be a scalar or a list of scalars`},
		},
		{
			name:    "nested sequence value",
			content: "defaults:\n  tools: [[a, b]]\n",
			env:     "staging",
			wantErr: []string{":2:", `key "tools" must be a scalar or a list of scalars`},
		},
		{
			name:    "environment entry must be a mapping",
			content: "environments:\n  staging: oops\n",
			env:     "staging",
			wantErr: []string{":2:", `environment "staging" must be a mapping`},
		},
		{
			name:    "top level must be a mapping",
			content: "- a\n- b\n",
			env:     "staging",
			wantErr: []string{":1:", "must be a mapping"},
		},
		{
			name:    "repeated key",
			content: "defaults:\n  namespace: a\n  namespace: b\n",
			wantErr: []string{":3:", `key "namespace" is repeated`},
		},
		{
			name:    "several documents",
			content: "defaults: {}\n---\ndefaults: {}\n",
			wantErr: []string{"only one YAML document"},
		},
		{
			name:    "invalid YAML",
			content: "defaults:\n  namespace: [unterminated\n",
			env:     "staging",
			wantErr: []string{"invalid YAML"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := write(t, tt.content)
			got, err := config.Load(path, tt.env)
			if tt.wantErr != nil {
				require.Error(t, err)
				assert.Nil(t, got)
				assert.Regexp(t, "^"+regexp.QuoteMeta(path)+"[:]", err.Error())
				for _, s := range tt.wantErr {
					assert.Contains(t, err.Error(), s)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestLoadSettingsKeepsTheLineOfEveryKey(t *testing.T) {
	path := write(t, example)
	for env, want := range map[string]map[string]config.Value{
		"staging": {
			"namespace":  {Text: "erlmcp-staging", Line: 7},
			"health-url": {Text: "https://erlmcp.staging.example.com/health", Line: 8},
			"timeout":    {Text: "5m", Line: 9},
		},
		"production": {
			"namespace": {Text: "erlmcp", Line: 3}, "timeout": {Text: "10m", Line: 4},
			"context": {Text: "prod-eks", Line: 11}, "fail-fast": {Text: "true", Line: 12},
			"mcp-expect-tools": {Text: "echo\nadd", Line: 13},
		},
	} {
		got, err := config.LoadSettings(path, env)
		require.NoError(t, err, env)
		assert.Equal(t, path, got.Path)
		assert.Equal(t, want, got.Values, env)
	}

	merged := write(t, "environments:\n  base: &base\n    namespace: shared\n  qa:\n    <<: *base\n    timeout: 1m\n")
	got, err := config.LoadSettings(merged, "qa")
	require.NoError(t, err)
	assert.Equal(t, map[string]config.Value{"namespace": {Text: "shared", Line: 3}, "timeout": {Text: "1m", Line: 6}}, got.Values,
		"a merged key points at the line it is written on")

	t.Chdir(t.TempDir())
	none, err := config.LoadSettings("", "qa")
	require.NoError(t, err)
	assert.Equal(t, config.Settings{Path: config.DefaultPath}, none, "no default file: no values")
}

func TestLoadMissingFiles(t *testing.T) {
	t.Run("missing default file is not an error", func(t *testing.T) {
		t.Chdir(t.TempDir())
		got, err := config.Load("", "staging")
		require.NoError(t, err)
		assert.Nil(t, got)

		envs, err := config.Environments("")
		require.NoError(t, err)
		assert.Nil(t, envs)
	})
	t.Run("default path is used when path is empty", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.MkdirAll(filepath.Join(dir, ".github"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, config.DefaultPath), []byte(example), 0o600))
		t.Chdir(dir)
		got, err := config.Load("", "staging")
		require.NoError(t, err)
		assert.Equal(t, "erlmcp-staging", got["namespace"])

		_, err = config.Load("", "qa")
		require.Error(t, err)
		assert.Regexp(t, `^\.github/erlmcp-deploy\.yml: `, err.Error())
	})
	t.Run("missing explicit file is an error", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope.yml")
		_, err := config.Load(path, "staging")
		require.Error(t, err)
		assert.ErrorIs(t, err, fs.ErrNotExist)
		assert.Equal(t, path+": read config: no such file or directory", err.Error())

		_, err = config.Environments(path)
		assert.ErrorIs(t, err, fs.ErrNotExist)
	})
}

func TestEnvironments(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []string
	}{
		{"sorted names", example, []string{"production", "staging"}},
		{"no environments section", "defaults: {a: b}\n", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.Environments(write(t, tt.content))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func FuzzLoad(f *testing.F) {
	f.Add(example, "staging")
	f.Add("defaults:\n  a: 1\n", "")
	f.Add("environments:\n  x: &a {k: [1, 2]}\n  y:\n    <<: [*a, *a]\n", "y")
	f.Add("environments: [a, b]\n", "a")
	f.Add("defaults: {k: {n: 1}}\n", "x")
	f.Add("a: &a [*a]\n", "")
	f.Add("---\n...\n", "z")
	f.Fuzz(func(t *testing.T, content, env string) {
		path := filepath.Join(t.TempDir(), "c.yml")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := config.Load(path, env)
		if err != nil {
			if got != nil {
				t.Fatalf("Load returned values with error %v", err)
			}
			return
		}
		if got == nil {
			t.Fatal("Load of an existing file returned nil values without error")
		}
		if _, err := config.Environments(path); err != nil {
			t.Fatalf("Environments failed where Load succeeded: %v", err)
		}
	})
}
