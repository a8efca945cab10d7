package timeline

import "strings"

// Kind is what kind of phase a log group is, read from its title.
type Kind string

// Kinds of phase, each a section of the gantt of a run in one cluster.
const (
	KindPreflight   Kind = "Pre-flight"
	KindChange      Kind = "Change"
	KindRollout     Kind = "Rollout"
	KindAnalysis    Kind = "Analysis"
	KindHealth      Kind = "Health check"
	KindDiagnostics Kind = "Diagnostics"
	KindRollback    Kind = "Rollback"
	KindOther       Kind = "Other"
)

// kindRules map title prefixes to kinds, first match wins; a rule with
// contains also needs that text in the title.
var kindRules = []struct {
	prefix, contains string
	kind             Kind
}{
	{"Diagnostics", "", KindDiagnostics},
	{"Health check", "", KindHealth},
	{"Rollback to revision", "", KindRollback},
	{"Rollout of revision", "", KindRollback}, // the rollback action's wait
	{"Restore revision", "", KindRollback},
	{"Verify the restored revision", "", KindRollback},
	{"Connect", "", KindPreflight},
	{"Pre-flight", "", KindPreflight},
	{"Canary pre-flight", "", KindPreflight},
	{"Blue-green pre-flight", "", KindPreflight},
	{"Load the manifests", "", KindPreflight},
	{"Plan:", "", KindPreflight},
	{"Rollback plan", "", KindPreflight},
	{"Canary plan", "", KindPreflight},
	{"Canary step", "analysis", KindAnalysis},
	{"Canary checks", "", KindAnalysis},
	{"Green: preview check", "", KindAnalysis},
	{"Load gate", "", KindAnalysis},
	{"Canary step", "rollout of", KindRollout},
	{"Green: rollout", "", KindRollout},
	{"Rollout", "", KindRollout},
	{"Verify revision", "", KindRollout},
	{"Canary step", "", KindChange},
	{"Green: ", "", KindChange},
	{"Deploy ", "", KindChange},
	{"Apply revision", "", KindChange},
	{"Prune", "", KindChange},
	{"Switch service", "", KindChange},
	{"Service ", "", KindChange},
}

// Classify is the kind of phase a group titled title is (the engines' group
// titles; KindOther for one it does not know).
func Classify(title string) Kind {
	for _, r := range kindRules {
		if strings.HasPrefix(title, r.prefix) && strings.Contains(title, r.contains) {
			return r.kind
		}
	}
	return KindOther
}
