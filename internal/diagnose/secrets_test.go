package diagnose_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"

	"github.com/org/erlmcp-deploy/internal/diagnose"
)

func TestSecretValues(t *testing.T) {
	env := func(kv ...string) []corev1.EnvVar {
		var out []corev1.EnvVar
		for i := 0; i < len(kv); i += 2 {
			out = append(out, corev1.EnvVar{Name: kv[i], Value: kv[i+1]})
		}
		return out
	}
	tmpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "migrate", Env: env("DB_PASSWORD", "pa55word!")}},
		Containers: []corev1.Container{
			{Name: "erlmcp", Env: append(env(
				"ERLMCP_ADMIN_TOKEN", "tok-123456",
				"RELEASE_COOKIE", "erlang-cookie",
				"SIGNING_KEY", "k3y-material",
				"AWS_SECRET_ACCESS_KEY", "aws-secret",
				"GITHUB_API_KEY", "ghk-1",
				"ERLMCP_PORT", "8080",
				"KEYCLOAK_URL", "https://sso.example",
				"LOG_LEVEL", "info",
				"SHORT_TOKEN", "abc",
			), corev1.EnvVar{Name: "FROM_SECRET_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "t"}}})},
			{Name: "sidecar", Env: env("PROXY_AUTH", "tok-123456", "PROXY_PASSWD", "hunter22")},
		},
	}}
	assert.Equal(t, []string{"pa55word!", "tok-123456", "erlang-cookie", "k3y-material", "aws-secret", "ghk-1", "hunter22"}, diagnose.SecretValues(tmpl))
	assert.Empty(t, diagnose.SecretValues(&corev1.PodTemplateSpec{}))
}
