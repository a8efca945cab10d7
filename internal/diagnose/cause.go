package diagnose

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/org/erlmcp-deploy/internal/bootcause"
	"github.com/org/erlmcp-deploy/internal/rollout"
)

// Classes of a failure's cause: the stable words of the failure-cause output.
// A container that exits is named by bootcause's classes (port-in-use,
// missing-env, dns, dependency-unreachable, config-syntax, node-name, undef,
// permission, start-crash, crash-unknown).
const (
	ImageNotFound     = "image-not-found"
	ImageUnauthorized = "image-unauthorized"
	ImageRateLimited  = "image-rate-limited"
	ConfigMissing     = "config-missing"
	Quota             = "quota"
	Unschedulable     = "unschedulable"
	OOM               = "oom"
	ProbeFailed       = "probe-failed"
	// ContainerConfig: the kubelet refuses to create or start the container (a security context, a bad command).
	ContainerConfig = "container-config"
	// Admission: the ReplicaSet may not create pods (an admission webhook or policy, not a quota).
	Admission = "admission"
	// HealthCheck: the rollout completed but the health check failed.
	HealthCheck = "health-check"
	// Analysis: a canary's metrics were judged worse than the baseline's (or inconclusive, with inconclusive: abort).
	Analysis = "analysis"
	// CanaryChecks: a canary step's own checks (smoke against the canary) failed.
	CanaryChecks = "canary-checks"
	// Timeout: the rollout did not finish in time and nothing names why.
	Timeout = "timeout"
	// TemplateChanged: another writer changed the pod template during the wait.
	TemplateChanged = "template-changed"
	// APIUnavailable: the API server kept failing, so the rollout's state is unknown.
	APIUnavailable = "api-unavailable"
)

// Classes lists every class a cause may have, for docs and input checks.
var Classes = []string{
	ImageNotFound, ImageUnauthorized, ImageRateLimited, ConfigMissing, Quota, Unschedulable, OOM, ProbeFailed,
	bootcause.PortInUse, bootcause.MissingEnv, bootcause.DNS, bootcause.DependencyUnreachable, bootcause.ConfigSyntax,
	bootcause.NodeName, bootcause.Undef, bootcause.Permission, bootcause.StartCrash, bootcause.CrashUnknown,
	ContainerConfig, Admission, HealthCheck, Analysis, CanaryChecks, Timeout, TemplateChanged, APIUnavailable,
}

// maxEvidence bounds the quoted evidence (a summary's first line, a Slack line).
const maxEvidence = 300

// Cause is why a deploy failed: a stable class, the object to fix, and the
// one log line or event it was read from.
type Cause struct {
	Class string `json:"class"`
	// Object is what to fix: "env ERLMCP_SECRET_KEY", "secret erlmcp-env", "image ghcr.io/acme/erlmcp:9.9.9".
	Object string `json:"object,omitempty"`
	// Detail says the rest in a few words ("requested cpu=2, used cpu=3, limited cpu=4").
	Detail string `json:"detail,omitempty"`
	// Evidence is the log line or event message quoted.
	Evidence string `json:"evidence,omitempty"`
	// Source is where Evidence was read: "log of pod/x container erlmcp (previous instance)", "event Unhealthy on pod/x".
	Source string `json:"source,omitempty"`
	// Permanent says a restart cannot clear it.
	Permanent bool `json:"permanent,omitempty"`
}

// Sentence says the cause in one sentence, without the evidence:
// "missing-env: environment variable ERLMCP_SECRET_KEY is missing".
func (c Cause) Sentence() string {
	if c.Class == "" {
		return ""
	}
	what := c.Object
	say := map[string]string{
		ImageNotFound:                   "%s does not exist in its registry",
		ImageUnauthorized:               "the cluster may not pull %s (credentials or imagePullSecrets)",
		ImageRateLimited:                "the registry rate-limits pulls of %s",
		ConfigMissing:                   "the pods need %s, which does not exist",
		Quota:                           "the namespace's %s has no room",
		Unschedulable:                   "no node can take the pods (%s)",
		OOM:                             "%s was killed for using more memory than its limit",
		ProbeFailed:                     "%s fails",
		ContainerConfig:                 "the kubelet cannot create or start %s",
		Admission:                       "the cluster refuses to create the pods (%s)",
		HealthCheck:                     "the rollout completed but the health check failed (%s)",
		Analysis:                        "the canary's metrics were judged worse than the baseline's (%s)",
		CanaryChecks:                    "the checks against the canary failed (%s)",
		Timeout:                         "the rollout did not finish in time (%s)",
		TemplateChanged:                 "another writer changed the pod template while we waited (%s)",
		APIUnavailable:                  "the API server kept failing, so the rollout's state is unknown (%s)",
		bootcause.PortInUse:             "the release cannot listen: %s is already in use",
		bootcause.MissingEnv:            "the release needs %s, which is not set",
		bootcause.DNS:                   "the host %s does not resolve",
		bootcause.DependencyUnreachable: "the release cannot reach %s",
		bootcause.ConfigSyntax:          "a config file does not parse: %s",
		bootcause.NodeName:              "the Erlang node name or distribution is wrong: %s",
		bootcause.Undef:                 "the release calls %s, which it does not contain",
		bootcause.Permission:            "the release may not use %s",
		bootcause.StartCrash:            "an application failed to start: %s",
		bootcause.CrashUnknown:          "the container exits (%s)",
	}[c.Class]
	if say == "" {
		say = "%s"
	}
	switch c.Class {
	case bootcause.DNS, bootcause.DependencyUnreachable, bootcause.Permission, bootcause.PortInUse:
		if what == "" && c.Detail != "" {
			return c.Class + ": " + c.Detail // a boot failure located by its call: the detail says it all
		}
	}
	if what == "" {
		what = c.Detail
	}
	if what == "" {
		what = "no detail"
	}
	s := c.Class + ": " + fmt.Sprintf(say, what)
	if c.Detail != "" && c.Detail != what {
		s += "; " + c.Detail
	}
	return s
}

// Line is the cause for a first summary or Slack line: the sentence, then
// the evidence quoted with where it was read.
func (c Cause) Line() string {
	s := c.Sentence()
	if c.Evidence != "" {
		s += " — " + c.Source + ": " + c.Evidence
		if c.Source == "" {
			s = c.Sentence() + " — " + c.Evidence
		}
	}
	return s
}

// Explain names the cause of a failed verdict from the verdict and the
// evidence collected for it: a pure function. It prefers the first
// problem's own facts (a pull error, a quota message, the crashed instance's
// log), then the events (probes, mounts, scheduling), and says timeout only
// when nothing else does.
func Explain(v rollout.Verdict, r *Report) Cause {
	if r == nil {
		r = &Report{}
	}
	switch v.Reason {
	case rollout.ReasonTemplateChanged:
		return Cause{Class: TemplateChanged, Detail: clip(v.Message), Permanent: true}
	case rollout.ReasonAPIUnavailable:
		return Cause{Class: APIUnavailable, Detail: clip(v.Message)}
	case "HealthCheckFailed":
		return Cause{Class: HealthCheck, Detail: clip(v.Message), Evidence: clip(v.Message), Source: "health check"}
	}
	for _, p := range v.Problems {
		if c, ok := problemCause(p, r); ok {
			return c
		}
	}
	if c, ok := eventCause(r, ""); ok {
		return c
	}
	for _, p := range r.Pods {
		for _, ct := range p.Containers {
			if c, ok := waitingCause(p.Name, ct); ok {
				return c
			}
		}
	}
	return Cause{Class: Timeout, Detail: clip(v.Message)}
}

// problemCause names the cause of one doomed pod (or ReplicaSet).
func problemCause(p rollout.Problem, r *Report) (Cause, bool) {
	if rs, ok := strings.CutPrefix(p.Pod, "replicaset/"); ok {
		return createCause(rs, p.Message), true
	}
	pod, ct := r.container(p.Pod, p.Container)
	where := "pod/" + p.Pod
	if p.Container != "" {
		where += " container " + p.Container
	}
	switch p.Reason {
	case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull":
		return imageCause(ct.Image, p.Message, "status of "+where), true
	case "CreateContainerConfigError":
		return configCause(p.Message, "status of "+where), true
	case "CreateContainerError", "RunContainerError", "ContainerCannotRun", "PreCreateHookError", "PostStartHookError":
		return Cause{Class: ContainerConfig, Object: "container " + p.Container, Detail: p.Reason,
			Evidence: clip(p.Message), Source: "status of " + where, Permanent: true}, true
	case rollout.ReasonUnschedulable:
		return Cause{Class: Unschedulable, Detail: schedulerSummary(p.Message), Evidence: clip(p.Message), Source: "scheduler on pod/" + p.Pod}, true
	case "OOMKilled":
		c := Cause{Class: OOM, Object: "container " + p.Container, Evidence: clip(p.Message), Source: "status of " + where}
		if ct.MemoryLimit != "" {
			c.Detail = "memory limit " + ct.MemoryLimit
		} else {
			c.Detail = "no memory limit of its own: the node's or the namespace's limit applied"
		}
		if strings.Contains(ct.Last, "OOMKilled") {
			c.Evidence = clip(ct.Last + "; " + p.Message)
		}
		return c, true
	}
	if p.Boot != nil && p.Boot.Class != "" {
		return bootCauseOf(*p.Boot, where, true), true
	}
	if c, ok := eventCause(r, pod); ok && c.Class == ProbeFailed {
		return c, true // a liveness probe killed it: its log may look fine
	}
	if ct.Boot != nil && ct.Boot.Class != "" {
		return bootCauseOf(*ct.Boot, where, ct.LogsPrevious), true
	}
	if ct.Name != "" && ct.Restarts == 0 && ct.State == "running" {
		probe := "readiness probe"
		if ct.Readiness != "" {
			probe += " (" + ct.Readiness + ")"
		}
		return Cause{Class: ProbeFailed, Object: probe + " of container " + ct.Name, Detail: "running but not Ready",
			Evidence: clip(p.Message), Source: "status of " + where}, true
	}
	if ct.Name != "" {
		return Cause{Class: bootcause.CrashUnknown, Object: crashObject(where), Detail: lastExit(ct, p),
			Evidence: clip(lastLine(ct.Logs)), Source: logSource(where, ct.LogsPrevious)}, true
	}
	return Cause{}, false
}

// bootCauseOf turns what a crashed instance's log says into a Cause.
func bootCauseOf(b bootcause.Cause, where string, previous bool) Cause {
	c := Cause{Class: b.Class, Object: b.Detail, Evidence: b.Evidence, Source: logSource(where, previous), Permanent: b.Permanent}
	switch b.Class {
	case bootcause.MissingEnv:
		c.Object = "env " + b.Detail
	case bootcause.StartCrash:
		if b.App != "" && !strings.HasPrefix(b.Detail, b.App) {
			c.Object = b.App + ": " + b.Detail
		}
	case bootcause.CrashUnknown:
		c.Object = crashObject(where)
	}
	if located := bootcause.IsCall(b.Detail); located {
		// OTP printed no host, port or path, only where the call failed.
		phrase := map[string]string{
			bootcause.DNS:                   "a host name looked up in %s does not resolve",
			bootcause.DependencyUnreachable: "a connection made in %s is refused or times out",
			bootcause.Permission:            "a file or directory used in %s may not be opened (eacces)",
			bootcause.PortInUse:             "a listener opened in %s finds its port in use",
		}[b.Class]
		if phrase != "" {
			c.Object, c.Detail = "", fmt.Sprintf(phrase, b.Detail)
		}
	}
	if c.Object == "" && c.Detail == "" && b.App != "" {
		c.Object = "application " + b.App
	}
	return c
}

// crashObject is "container c of pod/p" from "pod/p container c".
func crashObject(where string) string {
	pod, ct, ok := strings.Cut(where, " container ")
	if !ok {
		return where
	}
	return "container " + ct + " of " + pod
}

func logSource(where string, previous bool) string {
	if previous {
		return "log of " + where + " (crashed instance)"
	}
	return "log of " + where
}

var (
	// quotaMsg is the API server's quota refusal.
	quotaMsg = regexp.MustCompile(`exceeded quota: ([^,]+), requested: ([^,]+), used: ([^,]+), limited: ([^\s(]+)`)
	// missingObject is the kubelet's `secret "x" not found` / `configmap "x" not found`.
	missingObject = regexp.MustCompile(`(?i)\b(secret|configmap)s? "([^"]+)" not found`)
	// missingKey is `couldn't find key K in ConfigMap ns/name` (or Secret).
	missingKey = regexp.MustCompile(`couldn't find key (\S+) in (ConfigMap|Secret) (\S+)`)
	// quotedImage is the image reference a pull error quotes.
	quotedImage = regexp.MustCompile(`"([^"\s]+[:@][^"\s]+)"`)
	// schedReasons is the list after "0/3 nodes are available:".
	schedReasons = regexp.MustCompile(`\d+/\d+ nodes are available: ([^.]+)`)
	// probeMsg is the kubelet's "Readiness probe failed: …".
	probeMsg = regexp.MustCompile(`^(Readiness|Liveness|Startup) probe failed: (.*)`)
	// livenessKill is the kubelet's "Container c failed liveness probe, will be restarted".
	livenessKill = regexp.MustCompile(`Container (\S+) failed (liveness|startup) probe`)
)

// createCause names why a ReplicaSet cannot create pods.
func createCause(rs, msg string) Cause {
	if m := quotaMsg.FindStringSubmatch(msg); m != nil {
		return Cause{Class: Quota, Object: "resourcequota " + m[1],
			Detail:   fmt.Sprintf("requested %s, used %s, limited %s", m[2], m[3], m[4]),
			Evidence: clip(msg), Source: "replicaset/" + rs}
	}
	return Cause{Class: Admission, Object: "replicaset " + rs, Detail: clip(firstSentence(msg)), Evidence: clip(msg), Source: "replicaset/" + rs, Permanent: true}
}

// imageCause names why an image cannot be pulled.
func imageCause(image, msg, source string) Cause {
	if m := quotedImage.FindStringSubmatch(msg); m != nil {
		image = m[1]
	}
	c := Cause{Object: "image " + image, Evidence: clip(msg), Source: source, Permanent: true}
	lower := strings.ToLower(msg)
	switch {
	case strings.Contains(lower, "429") || strings.Contains(lower, "too many requests") || strings.Contains(lower, "toomanyrequests") || strings.Contains(lower, "rate limit"):
		c.Class, c.Permanent = ImageRateLimited, false
	case strings.Contains(lower, "unauthorized") || strings.Contains(lower, "401") || strings.Contains(lower, "403") ||
		strings.Contains(lower, "forbidden") || strings.Contains(lower, "denied") || strings.Contains(lower, "may require authorization"):
		c.Class = ImageUnauthorized
	default:
		c.Class = ImageNotFound
	}
	return c
}

// configCause names the Secret, ConfigMap or key a container needs.
func configCause(msg, source string) Cause {
	c := Cause{Class: ConfigMissing, Evidence: clip(msg), Source: source, Permanent: true}
	switch m := missingKey.FindStringSubmatch(msg); {
	case m != nil:
		c.Object = fmt.Sprintf("key %s of %s %s", m[1], strings.ToLower(m[2]), m[3])
	default:
		if m := missingObject.FindStringSubmatch(msg); m != nil {
			c.Object = strings.ToLower(m[1]) + " " + m[2]
		} else {
			c.Class, c.Object = ContainerConfig, "the container's configuration"
		}
	}
	return c
}

// eventCause reads a cause from Warning events (of pod, or of any object
// when pod is ""): a failing probe, a missing volume source, the scheduler.
func eventCause(r *Report, pod string) (Cause, bool) {
	for i := len(r.Events) - 1; i >= 0; i-- {
		e := r.Events[i]
		if pod != "" && e.Object != "pod/"+pod {
			continue
		}
		src := fmt.Sprintf("event %s on %s", e.Reason, e.Object)
		switch {
		case e.Reason == "Unhealthy" && probeMsg.MatchString(e.Message):
			m := probeMsg.FindStringSubmatch(e.Message)
			return Cause{Class: ProbeFailed, Object: strings.ToLower(m[1]) + " probe" + r.probeOf(e.Object, m[1]),
				Detail: clip(m[2]), Evidence: clip(e.Message), Source: src}, true
		case livenessKill.MatchString(e.Message):
			m := livenessKill.FindStringSubmatch(e.Message)
			return Cause{Class: ProbeFailed, Object: m[2] + " probe of container " + m[1], Evidence: clip(e.Message), Source: src}, true
		case e.Reason == "FailedMount" && missingObject.MatchString(e.Message):
			m := missingObject.FindStringSubmatch(e.Message)
			return Cause{Class: ConfigMissing, Object: strings.ToLower(m[1]) + " " + m[2], Evidence: clip(e.Message), Source: src, Permanent: true}, true
		case e.Reason == "FailedScheduling":
			return Cause{Class: Unschedulable, Detail: schedulerSummary(e.Message), Evidence: clip(e.Message), Source: src}, true
		case e.Reason == "FailedCreate" && strings.HasPrefix(e.Object, "replicaset/"):
			return createCause(strings.TrimPrefix(e.Object, "replicaset/"), e.Message), true
		}
	}
	return Cause{}, false
}

// waitingCause reads a cause from a container's waiting state (a timeout
// with no doomed pod: a pull still being retried, a config error).
func waitingCause(pod string, c Container) (Cause, bool) {
	reason, msg, _ := strings.Cut(strings.TrimPrefix(c.State, "waiting: "), " ")
	if !strings.HasPrefix(c.State, "waiting: ") {
		return Cause{}, false
	}
	src := "status of pod/" + pod + " container " + c.Name
	switch reason {
	case "ErrImagePull", "ImagePullBackOff", "InvalidImageName":
		return imageCause(c.Image, msg, src), true
	case "CreateContainerConfigError":
		return configCause(msg, src), true
	}
	return Cause{}, false
}

// probeOf is " (HTTP GET :8080/health)" for the named probe of a pod's container.
func (r *Report) probeOf(object, kind string) string {
	for _, p := range r.Pods {
		if "pod/"+p.Name != object {
			continue
		}
		for _, c := range p.Containers {
			d := c.Readiness
			if kind == "Liveness" {
				d = c.Liveness
			}
			if d != "" {
				return " (" + d + ")"
			}
		}
	}
	return ""
}

// container finds a pod's container in the report (the first one when
// name is ""), and the pod's name.
func (r *Report) container(pod, name string) (string, Container) {
	for _, p := range r.Pods {
		if p.Name != pod {
			continue
		}
		for _, c := range p.Containers {
			if name == "" || c.Name == name {
				return pod, c
			}
		}
	}
	return pod, Container{}
}

// schedulerSummary is "3 Insufficient cpu" from "0/3 nodes are available: 3 Insufficient cpu. preemption: …".
func schedulerSummary(msg string) string {
	if m := schedReasons.FindStringSubmatch(msg); m != nil {
		return strings.TrimSpace(m[1])
	}
	return clip(firstSentence(msg))
}

func lastExit(c Container, p rollout.Problem) string {
	if c.Last != "" {
		return c.Last
	}
	return strings.TrimSpace(p.Reason + " " + p.Message)
}

func lastLine(logs string) string {
	lines := strings.Split(strings.TrimRight(logs, "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if s := strings.TrimSpace(lines[i]); s != "" {
			return s
		}
	}
	return ""
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i > 0 {
		return s[:i]
	}
	return strings.TrimSpace(s)
}

// clip keeps a quote to one line of at most maxEvidence bytes.
func clip(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	if len(s) <= maxEvidence {
		return s
	}
	cut := maxEvidence
	for cut > 0 && (s[cut]&0xC0) == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
