package bootcause

import (
	"regexp"
	"strconv"
	"strings"
)

// textHit is a cause read from a message (not a term).
type textHit struct {
	class, detail string
	child         string // a listener or child the message names
	invalidName   bool   // node-name: the name itself is invalid
}

// Messages OTP, Elixir and common libraries print, with the part that
// names the object to fix.
var (
	reEnvMissing  = regexp.MustCompile(`environment variable ([A-Za-z_][A-Za-z0-9_]*) is (?:missing|not set)`)
	reEnvFetch    = regexp.MustCompile(`could not fetch environment variable "([^"]+)" because it is not set`)
	reCookie      = regexp.MustCompile(`(?:Failed to create cookie file '([^']+)'|Error when reading ([^\s:'"]+)): (\w+)`)
	reConfigData  = regexp.MustCompile(`invalid config data: (.*)`)
	reConfigFile  = regexp.MustCompile(`error in config file "((?:[^"\\]|\\.)*)" \((none|\d+)\): (.*)`)
	reUndefined   = regexp.MustCompile(`(?:function ([\w.!?]+/\d+) is undefined|undefined function ([\w.!?:]+/\d+))`)
	reTCPConnect  = regexp.MustCompile(`tcp connect(?: \(([^)]*)\))?: (.*)`)
	reFileError   = regexp.MustCompile(`could not [a-z ]+ "([^"]+)": (permission denied|read-only file system|illegal operation on a directory|not a directory)`)
	reRanch       = regexp.MustCompile(`Failed to start Ranch listener (.+?) in \S+:listen\((.*)\) for reason (\w+)`)
	rePortOption  = regexp.MustCompile(`\{port,\s*(\d+)\}`)
	reElixirAtom  = regexp.MustCompile(`:(eaddrinuse|nxdomain|econnrefused|ehostunreach|enetunreach|etimedout|eacces|eperm|erofs|eisdir|enotdir)\b`)
	reProtocol    = regexp.MustCompile(`Protocol '?([\w]+)'?: (.*)`)
	reNodeInvalid = regexp.MustCompile(`invalid node name: (\S.*)$`)
	reNodeInUse   = regexp.MustCompile(`the name (\S+) seems to be in use by another Erlang node`)
)

// textCause reads a cause from a message: an exception's text, a log line,
// a string inside a reason.
func textCause(s string) textHit {
	if m := reEnvMissing.FindStringSubmatch(s); m != nil {
		return textHit{class: MissingEnv, detail: m[1]}
	}
	if m := reEnvFetch.FindStringSubmatch(s); m != nil {
		return textHit{class: MissingEnv, detail: m[1]}
	}
	if m := reCookie.FindStringSubmatch(s); m != nil {
		if reasonAtoms[m[3]] == Permission || m[3] == "enoent" {
			return textHit{class: Permission, detail: m[1] + m[2]}
		}
	}
	if m := reConfigFile.FindStringSubmatch(s); m != nil {
		file := strings.ReplaceAll(m[1], `\"`, `"`)
		if m[2] != "none" {
			file += ":" + m[2]
		}
		return textHit{class: ConfigSyntax, detail: file + ": " + strings.TrimSpace(m[3])}
	}
	if m := reConfigData.FindStringSubmatch(s); m != nil { // application_controller's check of -config
		return textHit{class: ConfigSyntax, detail: "invalid config data: " + strings.TrimRight(strings.TrimSpace(m[1]), `")`)}
	}
	if m := reUndefined.FindStringSubmatch(s); m != nil {
		return textHit{class: Undef, detail: m[1] + m[2]}
	}
	if m := reTCPConnect.FindStringSubmatch(s); m != nil {
		if c := connectClass(m[2]); c != "" {
			return textHit{class: c, detail: m[1]}
		}
	}
	if m := reFileError.FindStringSubmatch(s); m != nil {
		return textHit{class: Permission, detail: m[1]}
	}
	if m := reRanch.FindStringSubmatch(s); m != nil {
		if c := reasonAtoms[m[3]]; c == PortInUse || c == Permission {
			h := textHit{class: c, child: strings.Trim(m[1], "'")}
			if p := rePortOption.FindStringSubmatch(m[2]); p != nil {
				h.detail = "port " + p[1]
			}
			return h
		}
	}
	if m := reProtocol.FindStringSubmatch(s); m != nil {
		if h := distribution(m[1], m[2]); h.class != "" {
			return h
		}
	}
	if strings.Contains(s, "Can't set long node name!") || strings.Contains(s, "Can't set short node name!") {
		return textHit{class: NodeName}
	}
	// An Elixir-printed reason: {:error, :eaddrinuse}.
	if m := reElixirAtom.FindStringSubmatch(s); m != nil {
		return textHit{class: reasonAtoms[m[1]]}
	}
	return textHit{}
}

// connectClass reads the reason of "tcp connect (host:port): reason".
func connectClass(reason string) string {
	switch {
	case strings.Contains(reason, "nxdomain") || strings.Contains(reason, "non-existing domain"):
		return DNS
	case strings.Contains(reason, "econnrefused") || strings.Contains(reason, "connection refused") ||
		strings.Contains(reason, "timeout") || strings.Contains(reason, "etimedout") ||
		strings.Contains(reason, "ehostunreach") || strings.Contains(reason, "host is unreachable"):
		return DependencyUnreachable
	}
	return ""
}

// distribution reads "Protocol 'inet_tcp': …", the distribution's own errors.
func distribution(proto, msg string) textHit {
	if m := reNodeInvalid.FindStringSubmatch(msg); m != nil {
		return textHit{class: NodeName, detail: strings.TrimSpace(m[1]), invalidName: true}
	}
	if m := reNodeInUse.FindStringSubmatch(msg); m != nil {
		return textHit{class: NodeName, detail: m[1]}
	}
	if _, after, ok := strings.Cut(msg, "register/listen error: "); ok {
		reason := strings.TrimSpace(after)
		switch reasonAtoms[reason] {
		case PortInUse:
			return textHit{class: PortInUse, detail: "distribution (" + proto + ")"}
		case Permission:
			return textHit{class: Permission, detail: "distribution (" + proto + ")"}
		case DependencyUnreachable:
			return textHit{class: NodeName, detail: "epmd (" + reason + ")"}
		}
		if reason != "" {
			return textHit{class: NodeName, detail: "distribution (" + proto + "): " + reason}
		}
	}
	return textHit{}
}

// validNodeName: name@host with the characters a node name may have.
func validNodeName(n string) bool {
	name, host, hasHost := strings.Cut(n, "@")
	if name == "" || hasHost && (host == "" || strings.Contains(host, "@")) {
		return false
	}
	ok := func(s string, extra string) bool {
		for _, r := range s {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(extra, r)) {
				return false
			}
		}
		return true
	}
	return ok(name, "_-") && ok(host, "_-.")
}

// portDetail prints a port for a Detail.
func portDetail(p int) string { return "port " + strconv.Itoa(p) }
