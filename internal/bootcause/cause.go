package bootcause

import "regexp"

// Classes a Cause names; "" is a log that shows no failure.
const (
	PortInUse             = "port-in-use"
	MissingEnv            = "missing-env"
	DNS                   = "dns"
	DependencyUnreachable = "dependency-unreachable"
	ConfigSyntax          = "config-syntax"
	NodeName              = "node-name"
	Undef                 = "undef"
	Permission            = "permission"
	StartCrash            = "start-crash"
	CrashUnknown          = "crash-unknown"
)

// Cause is why a release failed to boot.
type Cause struct {
	// Class is one of the constants above, or "" when the log shows no failure.
	Class string
	// Detail is the object to fix: variable, port or listener, host:port, file: message, M:F/A, path, node, "app: reason".
	Detail string
	// App is the application that failed to start, when the log says.
	App string
	// Evidence is the one log line the cause was read from.
	Evidence string
	// Permanent says a restart cannot help (see permanent).
	Permanent bool
}

// rank orders classes: a specific cause over start-crash over crash-unknown.
func rank(class string) int {
	switch class {
	case "":
		return -1
	case CrashUnknown:
		return 0
	case StartCrash:
		return 1
	}
	return 2
}

// permanent says whether restarting the same container can clear the cause.
// A missing variable, a broken config file, a function missing from the
// release, a path the container may not write and an invalid node name are
// the same at every start. DNS and an unreachable dependency come and go with
// other workloads. port-in-use is treated as transient: inside a pod the
// holder is a sibling container, a host-network neighbour or the previous
// instance's socket, which can go away; a wrong "permanent" fails a healthy
// release at its first crash, a wrong "transient" only costs the usual
// crash-loop tolerance. start-crash and crash-unknown are unknown, so
// transient. node-name is permanent only when the name itself is invalid
// (the host part may simply not resolve yet, as a StatefulSet pod's own DNS
// name before its Service publishes it).
func permanent(class string, invalidName bool) bool {
	switch class {
	case MissingEnv, ConfigSyntax, Undef, Permission:
		return true
	case NodeName:
		return invalidName
	}
	return false
}

// call is M:F/A (Erlang) or Mod.fun/A (Elixir).
var call = regexp.MustCompile(`^(?:[a-z][A-Za-z0-9_@]*:[a-z][A-Za-z0-9_@]*|'[^']+':'?[^']+'?|[A-Z][A-Za-z0-9_.]*\.[a-z_][A-Za-z0-9_?!]*)/\d+$`)

// IsCall reports whether a Detail names only the call that failed (M:F/A):
// OTP printed no host, port or path for the cause.
func IsCall(detail string) bool { return call.MatchString(detail) }
