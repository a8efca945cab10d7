package diagnose

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// secretName matches environment variable names that hold credentials.
var secretName = regexp.MustCompile(`(?i)(secret|token|passw(or)?d|pwd|api_?key|private_?key|access_?key|credential|cookie|auth|(^|_)key$)`)

// MinSecretLen is the shortest value SecretValues takes for a credential.
// The names are a guess (AUTH_ENABLED, OAUTH_AUDIENCE and KEYCLOAK_REALM match
// too), and a masked value is replaced everywhere — in the log, the outputs
// (GitHub drops a job output that contains one) and the summary — so short
// values, which occur inside ordinary text, are not taken.
const MinSecretLen = 8

// word is a lowercase word or words joined by - _ . (disabled, erlmcp-prod,
// client.example): configuration, not a credential.
var word = regexp.MustCompile(`^[a-z]+([-_.][a-z]+)*$`)

// SecretValues returns the literal values of a pod template's environment
// variables whose names say they hold credentials (ERLMCP_ADMIN_TOKEN,
// DB_PASSWORD, RELEASE_COOKIE ...): an application that echoes its
// environment into its logs would put them in the diagnostics, so they are
// masked. Values from Secrets (valueFrom) cannot be read by the deploy
// identity and are not returned. Neither are values that cannot be
// credentials but would corrupt logs and outputs if masked (see
// plausibleSecret): booleans, numbers, values shorter than MinSecretLen,
// lowercase words and plain URLs.
func SecretValues(t *corev1.PodTemplateSpec) []string {
	var out []string
	seen := map[string]bool{}
	for _, cs := range [][]corev1.Container{t.Spec.InitContainers, t.Spec.Containers} {
		for _, c := range cs {
			for _, e := range c.Env {
				if secretName.MatchString(e.Name) && plausibleSecret(e.Value) && !seen[e.Value] {
					seen[e.Value] = true
					out = append(out, e.Value)
				}
			}
		}
	}
	return out
}

// plausibleSecret reports whether v could be a credential: at least
// MinSecretLen characters, not a number (TTLs, ports, 1.5), not lowercase
// words (booleans such as true/yes/on are both short and words) and not an
// http(s) URL without user info or query (an issuer, a JWKS endpoint).
func plausibleSecret(v string) bool {
	v = strings.TrimSpace(v)
	if len(v) < MinSecretLen || word.MatchString(v) {
		return false
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return false
	}
	if u, err := url.Parse(v); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.User == nil && u.RawQuery == "" && u.Fragment == "" {
		return false
	}
	return true
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
