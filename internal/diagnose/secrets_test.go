package diagnose_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/org/erlmcp-deploy/internal/actionspec"
	"github.com/org/erlmcp-deploy/internal/diagnose"
	"github.com/org/erlmcp-deploy/internal/ghaction"
	"github.com/org/erlmcp-deploy/internal/ghaction/steptest"
)

func env(kv ...string) []corev1.EnvVar {
	var out []corev1.EnvVar
	for i := 0; i < len(kv); i += 2 {
		out = append(out, corev1.EnvVar{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

func TestSecretValues(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "migrate", Env: env("DB_PASSWORD", "pa55word!")}},
		Containers: []corev1.Container{
			{Name: "erlmcp", Env: append(env(
				"ERLMCP_ADMIN_TOKEN", "tok-12345678",
				"RELEASE_COOKIE", "XEHQFHVJFPZUJDQPRHSN",
				"SIGNING_KEY", "k3y-material",
				"AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
				"ERLMCP_PORT", "8080",
				"KEYCLOAK_URL", "https://sso.example",
				"LOG_LEVEL", "info",
			), corev1.EnvVar{Name: "FROM_SECRET_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "t"}}})},
			{Name: "sidecar", Env: env("PROXY_AUTH", "tok-12345678", "PROXY_PASSWD", "hunter22")},
		},
	}}
	assert.Equal(t, []string{"pa55word!", "tok-12345678", "XEHQFHVJFPZUJDQPRHSN", "k3y-material",
		"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "hunter22"}, diagnose.SecretValues(tmpl))
	assert.Empty(t, diagnose.SecretValues(&corev1.PodTemplateSpec{}))
}

// TestSecretValuesSkipsWhatIsNoCredential: names are a guess (AUTH_ENABLED
// matches "auth"); masking true or erlmcp would turn outputs such as
// rolled-back=true into *** and make GitHub drop outputs that contain erlmcp.
func TestSecretValuesSkipsWhatIsNoCredential(t *testing.T) {
	tests := []struct {
		name, value string
		masked      bool
	}{
		{"AUTH_ENABLED", "true", false},
		{"AUTH_REQUIRED", "FALSE", false},
		{"OAUTH_ALLOW_SIGNUP", "yes", false},
		{"AUTH_TLS", "off", false},
		{"OAUTH_AUDIENCE", "erlmcp", false},
		{"AUTH_MODE", "disabled", false},
		{"OAUTH_AUDIENCE_FULL", "erlmcp-production", false},
		{"AUTH_REALM", "erlmcp.staging", false},
		{"TOKEN_TTL_SECONDS", "86400", false},
		{"API_KEY_RATIO", "0.25", false},
		{"SHORT_TOKEN", "abc1234", false}, // shorter than MinSecretLen
		{"OAUTH_ISSUER", "https://sso.example.com/realms/erlmcp", false},
		{"AUTH_JWKS_URL", "http://keycloak:8080/certs", false},
		{"AUTH_CALLBACK_TOKEN_URL", "https://hooks.example.com/x?token=abcdef123456", true},
		{"AUTH_URL", "https://user:pa55w0rd@sso.example.com/", true},
		{"ERLMCP_ADMIN_TOKEN", "tok-12345678", true},
		{"OAUTH_CLIENT_SECRET", "Zk9fQ2xpZW50U2VjcmV0", true},
		{"RELEASE_COOKIE", "XEHQFHVJFPZUJDQPRHSN", true},
		{"DB_PASSWORD", "hunter22", true},
		{"API_KEY", "ghp_16C7e42F292c6912E7710c838347Ae178B4a", true},
		{"LOG_LEVEL", "Zk9fQ2xpZW50U2VjcmV0", false}, // not a credential name
	}
	for _, tc := range tests {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			tmpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "erlmcp", Env: env(tc.name, tc.value)}}}}
			if tc.masked {
				assert.Equal(t, []string{tc.value}, diagnose.SecretValues(tmpl))
			} else {
				assert.Empty(t, diagnose.SecretValues(tmpl))
			}
		})
	}
}

// TestPodTemplateEnvDoesNotCorruptDeployOutputs is the deploy step's masking
// path (MaskSecrets through the runtime's Mask) with an erlmcp pod template
// that has auth switches next to a real credential.
func TestPodTemplateEnvDoesNotCorruptDeployOutputs(t *testing.T) {
	const secret = "Zk9fQ2xpZW50U2VjcmV0LTk4Nw"
	tmpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "erlmcp", Env: env(
		"AUTH_ENABLED", "true", "OAUTH_AUDIENCE", "erlmcp", "OAUTH_TOKEN_TTL", "3600",
		"OAUTH_ISSUER", "https://sso.example.com/realms/erlmcp", "OAUTH_CLIENT_SECRET", secret,
	)}}}}
	s := steptest.Run(t, actionspec.Deploy(), func(ctx context.Context, rt *ghaction.Runtime) error {
		diagnose.MaskSecrets(rt.Mask, tmpl)
		rt.Infof("pod erlmcp-7d9f: | booting erlmcp with AUTH_ENABLED=true OAUTH_CLIENT_SECRET=%s", secret)
		rt.SetOutput("status", "rolled-back")
		rt.SetOutput("rolled-back", "true")
		rt.SetOutput("revision", "3")
		rt.SetOutput("image", "ghcr.io/acme/erlmcp:1.2.3")
		rt.SetOutput("failure-reason", "crash loop of erlmcp (restarted 3 times)")
		rt.Summary().KeyValues([][2]string{{"Status", "rolled-back"}, {"Image", "ghcr.io/acme/erlmcp:1.2.3"}})
		return nil
	}, map[string]string{"environment": "production", "image": "ghcr.io/acme/erlmcp:1.2.3"}, nil)
	require.Equal(t, 0, s.Code, s.Log)
	assert.Equal(t, "rolled-back", s.Output("status"))
	assert.Equal(t, "true", s.Output("rolled-back"))
	assert.Equal(t, "3", s.Output("revision"))
	assert.Equal(t, "ghcr.io/acme/erlmcp:1.2.3", s.Output("image"), "GitHub drops an output that holds a masked value")
	assert.Equal(t, "crash loop of erlmcp (restarted 3 times)", s.Output("failure-reason"))
	assert.Contains(t, s.Summary, "| **Status** | rolled-back |")
	assert.Equal(t, []string{"::add-mask::" + secret}, maskCommands(s.Log), "only the credential is registered with the runner")
	assert.Contains(t, s.Log, "booting erlmcp with AUTH_ENABLED=true OAUTH_CLIENT_SECRET=***")
	assert.Empty(t, s.Leaks(secret))
}

func maskCommands(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.HasPrefix(l, "::add-mask::") {
			out = append(out, l)
		}
	}
	return out
}
