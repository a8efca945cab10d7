package preview

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Labels and annotations of a preview namespace.
const (
	// ManagedByLabel is set to ManagedBy on every preview namespace (the value release Secrets carry too).
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of ManagedByLabel.
	ManagedBy = "erlmcp-deploy"
	// RepositoryLabel holds the repository, as RepositoryLabelValue writes it.
	RepositoryLabel = "erlmcp-deploy.io/preview-repository"
	// PullRequestLabel holds the pull request's number.
	PullRequestLabel = "erlmcp-deploy.io/preview-pull-request"

	// RepositoryAnnotation holds the repository as owner/name.
	RepositoryAnnotation = "erlmcp-deploy.io/preview-repository"
	// HeadSHAAnnotation holds the commit of the last push.
	HeadSHAAnnotation = "erlmcp-deploy.io/preview-head-sha"
	// HeadRefAnnotation holds the pull request's branch.
	HeadRefAnnotation = "erlmcp-deploy.io/preview-head-ref"
	// ServingSHAAnnotation holds the commit of the last push that verified: what serves after a doomed push.
	ServingSHAAnnotation = "erlmcp-deploy.io/preview-serving-sha"
	// LastPushAnnotation holds when the last push was deployed (RFC 3339, UTC); the ttl counts from it.
	LastPushAnnotation = "erlmcp-deploy.io/preview-last-push"
)

// DefaultPrefix is the namespace prefix when the `namespace-prefix` input is empty: "<release>-pr-".
func DefaultPrefix(release string) string { return release + "-pr-" }

// NamespaceName is the namespace of pull request number's preview,
// prefix+number, which must be a DNS-1123 label (at most 63 characters).
func NamespaceName(prefix string, number int) (string, error) {
	if number <= 0 {
		return "", fmt.Errorf("pull request number %d is not positive", number)
	}
	name := prefix + strconv.Itoa(number)
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return "", fmt.Errorf("namespace %q (namespace-prefix %q + pull request %d) is not a valid namespace name: %s",
			name, prefix, number, strings.Join(errs, "; "))
	}
	return name, nil
}

// DefaultEnvironmentPrefix is the GitHub environment prefix of previews: pull request 12 is environment "pr-12".
const DefaultEnvironmentPrefix = "pr-"

// EnvironmentName is the GitHub environment of pull request number's preview:
// one environment per pull request, so no preview's deployments touch another's.
func EnvironmentName(prefix string, number int) string {
	if prefix == "" {
		prefix = DefaultEnvironmentPrefix
	}
	return prefix + strconv.Itoa(number)
}

// RepositoryLabelValue writes owner/name as a label value: lower case, "/"
// as "." (an owner has no dots, so it stays unambiguous), and when longer
// than 63 characters cut to 52 and ended with a hash of the whole.
func RepositoryLabelValue(repo string) string {
	v := strings.ToLower(strings.Replace(strings.TrimSpace(repo), "/", ".", 1))
	v = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '-'
	}, v)
	if len(v) > validation.LabelValueMaxLength {
		sum := sha256.Sum256([]byte(v))
		v = strings.TrimRight(v[:52], "-_.") + "-" + hex.EncodeToString(sum[:])[:10]
	}
	return strings.Trim(v, "-_.")
}

// Labels are the labels of repo's preview of pull request number: the reaper
// lists and touches only namespaces that carry all of them.
func Labels(repo string, number int) map[string]string {
	return map[string]string{
		ManagedByLabel:   ManagedBy,
		RepositoryLabel:  RepositoryLabelValue(repo),
		PullRequestLabel: strconv.Itoa(number),
	}
}

// Selector is the label selector of every preview namespace of repo.
func Selector(repo string) string {
	return ManagedByLabel + "=" + ManagedBy + "," + RepositoryLabel + "=" + RepositoryLabelValue(repo) + "," + PullRequestLabel
}

// Annotations record the last push on the preview namespace: the repository,
// the pull request's head commit and branch, and when it was deployed.
func Annotations(repo string, p PullRequest, pushed time.Time) map[string]string {
	a := map[string]string{
		RepositoryAnnotation: repo,
		HeadSHAAnnotation:    p.HeadSHA,
		LastPushAnnotation:   pushed.UTC().Format(time.RFC3339),
	}
	if p.HeadRef != "" {
		a[HeadRefAnnotation] = p.HeadRef
	}
	return a
}

// URL fills the url-template: {number}, {namespace} and {sha} (the head
// commit) are replaced; an empty template is no URL. A placeholder it does
// not know is an error naming it.
func URL(template string, number int, namespace, sha string) (string, error) {
	if strings.TrimSpace(template) == "" {
		return "", nil
	}
	out := strings.NewReplacer("{number}", strconv.Itoa(number), "{namespace}", namespace, "{sha}", sha).Replace(template)
	if i := strings.Index(out, "{"); i >= 0 {
		if j := strings.Index(out[i:], "}"); j > 0 {
			return "", fmt.Errorf("url-template %q: unknown placeholder %s (accepted: {number}, {namespace}, {sha})", template, out[i:i+j+1])
		}
	}
	if !strings.HasPrefix(out, "http://") && !strings.HasPrefix(out, "https://") {
		return "", fmt.Errorf("url-template %q: the URL %q is not http:// or https://", template, out)
	}
	return out, nil
}
