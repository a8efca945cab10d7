package preview

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Namespace is what the reaper knows of a namespace in the cluster.
type Namespace struct {
	Name        string
	Labels      map[string]string
	Annotations map[string]string
	// Created is the namespace's creationTimestamp, used only when it has no last-push annotation.
	Created time.Time
}

// Decision is what the reaper does with one preview namespace, and why.
type Decision struct {
	Namespace string
	// Number is the pull request of the preview.
	Number int
	Remove bool
	// Reason says why, in a sentence fragment for the log and the summary table.
	Reason string
	// LastPush is when the preview was last deployed (zero when unknown).
	LastPush time.Time
}

// Owner reports the pull request whose preview ns is, when it is a preview
// of repo: it carries every label of Labels(repo, n) and nothing else decides.
func Owner(repo string, ns Namespace) (int, bool) {
	if ns.Labels[ManagedByLabel] != ManagedBy || ns.Labels[RepositoryLabel] != RepositoryLabelValue(repo) {
		return 0, false
	}
	n, err := strconv.Atoi(ns.Labels[PullRequestLabel])
	if err != nil || n <= 0 || strconv.Itoa(n) != ns.Labels[PullRequestLabel] {
		return 0, false
	}
	if a, ok := ns.Annotations[RepositoryAnnotation]; ok && !strings.EqualFold(a, repo) {
		return 0, false // the same label value from another repository (a hashed, cut name)
	}
	return n, true
}

// Reap decides, for every preview namespace of repo, whether it goes: when
// its pull request is not in open (closed or merged), or when its last push
// (the LastPushAnnotation, else its creation) is older than ttl (ttl <= 0:
// never). A namespace that is not repo's preview is left out of the result:
// the reaper never touches it. Decisions are sorted by pull request, then name.
func Reap(repo string, namespaces []Namespace, open map[int]bool, now time.Time, ttl time.Duration) []Decision {
	var out []Decision
	for _, ns := range namespaces {
		n, ok := Owner(repo, ns)
		if !ok {
			continue
		}
		d := Decision{Namespace: ns.Name, Number: n}
		from, counted := lastPush(ns)
		d.LastPush = from
		note := ""
		if counted == "created" {
			note = " (no last-push annotation)"
		}
		switch {
		case !open[n]:
			d.Remove, d.Reason = true, fmt.Sprintf("pull request #%d is closed", n)
		case ttl > 0 && !from.IsZero() && now.Sub(from) > ttl:
			d.Remove, d.Reason = true, fmt.Sprintf("idle: %s %s ago%s, past the ttl of %s", counted, Age(now.Sub(from)), note, Age(ttl))
		case from.IsZero():
			d.Reason = fmt.Sprintf("pull request #%d is open; no last push recorded", n)
		case ttl > 0:
			d.Reason = fmt.Sprintf("pull request #%d is open; %s %s ago%s, within the ttl of %s", n, counted, Age(now.Sub(from)), note, Age(ttl))
		default:
			d.Reason = fmt.Sprintf("pull request #%d is open; no ttl", n)
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Number != out[j].Number {
			return out[i].Number < out[j].Number
		}
		return out[i].Namespace < out[j].Namespace
	})
	return out
}

// lastPush is when ns was last deployed, and what that time is: "last push",
// or "created" when the namespace has no readable last-push annotation.
func lastPush(ns Namespace) (time.Time, string) {
	if v, ok := ns.Annotations[LastPushAnnotation]; ok {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t, "last push"
		}
	}
	return ns.Created, "created"
}

// Age writes d for people: "45s", "12m", "3h20m", "2d4h".
func Age(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
		fallthrough
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m)
	default:
		days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
		if h == 0 {
			return fmt.Sprintf("%dd", days)
		}
		return fmt.Sprintf("%dd%dh", days, h)
	}
}
