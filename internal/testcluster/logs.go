package testcluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ContainerLog is what every simulated container prints (kubectl logs).
const ContainerLog = `[info] erlmcp starting: node erlmcp@pod, OTP 27
[info] erlmcp_transport_http: listening on 0.0.0.0:8080 (/mcp, /health, /metrics)
[info] erlmcp_registry: 3 tools registered
`

// PreviousContainerLog is what the previous (crashed) instance of every
// simulated container printed (kubectl logs --previous).
const PreviousContainerLog = `[info] erlmcp starting: node erlmcp@pod, OTP 27
[error] erlmcp_app: start failed: {bad_config,{missing_env,"ERLMCP_SECRET_KEY"}}
[error] init terminating in do_boot ({erlmcp_app,start,[normal,[]]},{bad_config,missing_env})
Crash dump is being written to: erl_crash.dump...done
`

// EchoEnvContainer is the container name whose simulated previous instance
// echoed its environment: it printed EchoedEnv=EchoedSecret before crashing,
// as an application that dumps its config does. Tests of masking give such a
// container that literal env value.
const (
	EchoEnvContainer = "echo-env"
	EchoedEnv        = "ERLMCP_ADMIN_TOKEN"
	EchoedSecret     = "erlmcp-admin-7Hq2Lw9xVbT4"
)

// echoedPreviousLog is what a crashed EchoEnvContainer printed.
const echoedPreviousLog = `[info] erlmcp starting: node erlmcp@pod, OTP 27
[debug] erlmcp_config: environment ERLMCP_PORT=8080 ` + EchoedEnv + `=` + EchoedSecret + ` LOG_LEVEL=debug
[error] erlmcp_app: start failed: {bad_config,{invalid_token,"` + EchoedSecret + `"}}
`

// writeKwokConfig writes the stages and a ClusterLogs that serves the logs
// above for every pod, and returns the config path for kwok --config.
func writeKwokConfig(dir string) (string, error) {
	cur, prev := filepath.Join(dir, "container.log"), filepath.Join(dir, "container-previous.log")
	if err := os.WriteFile(cur, criLog(ContainerLog, "2026-11-23T10:00:00"), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(prev, criLog(PreviousContainerLog, "2026-11-23T09:59:58"), 0o644); err != nil {
		return "", err
	}
	echoed := filepath.Join(dir, "container-previous-echo-env.log")
	if err := os.WriteFile(echoed, criLog(echoedPreviousLog, "2026-11-23T09:59:58"), 0o644); err != nil {
		return "", err
	}
	logs := fmt.Sprintf(`---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: erlmcp-logs
spec:
  logs:
  - logsFile: %q
    previousLogsFile: %q
    follow: false
  - containers: [%s]
    logsFile: %q
    previousLogsFile: %q
    follow: false
`, cur, prev, EchoEnvContainer, cur, echoed)
	path := filepath.Join(dir, "kwok.yaml")
	return path, os.WriteFile(path, []byte(Stages+logs), 0o644)
}

// criLog renders lines in the CRI log format kwok serves ("<time> stdout F <line>").
func criLog(text, second string) []byte {
	var b strings.Builder
	for i, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		fmt.Fprintf(&b, "%s.%09dZ stdout F %s\n", second, i*1000000, line)
	}
	return []byte(b.String())
}
