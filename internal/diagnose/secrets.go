package diagnose

import (
	"regexp"

	corev1 "k8s.io/api/core/v1"
)

// secretName matches environment variable names that hold credentials.
var secretName = regexp.MustCompile(`(?i)(secret|token|passw(or)?d|pwd|api_?key|private_?key|access_?key|credential|cookie|auth|(^|_)key$)`)

// SecretValues returns the literal values of a pod template's environment
// variables whose names say they hold credentials (ERLMCP_ADMIN_TOKEN,
// DB_PASSWORD, RELEASE_COOKIE ...): an application that echoes its
// environment into its logs would put them in the diagnostics, so they are
// masked. Values from Secrets (valueFrom) cannot be read by the deploy
// identity and are not returned; values shorter than 4 characters neither.
func SecretValues(t *corev1.PodTemplateSpec) []string {
	var out []string
	seen := map[string]bool{}
	for _, cs := range [][]corev1.Container{t.Spec.InitContainers, t.Spec.Containers} {
		for _, c := range cs {
			for _, e := range c.Env {
				if len(e.Value) >= 4 && secretName.MatchString(e.Name) && !seen[e.Value] {
					seen[e.Value] = true
					out = append(out, e.Value)
				}
			}
		}
	}
	return out
}

// MaskSecrets gives mask the SecretValues of every template.
func MaskSecrets(mask func(string), templates ...*corev1.PodTemplateSpec) {
	if mask == nil {
		return
	}
	for _, t := range templates {
		for _, v := range SecretValues(t) {
			mask(v)
		}
	}
}
