// Package bootcause names why an Erlang/Elixir release failed to boot, from
// the log its crashed instance left (kubectl logs --previous).
//
// It reads OTP's own formats rather than keywords: the first line
// {"init terminating in do_boot",Reason} and its depth-limited halt string,
// {"Kernel pid terminated",application_controller,"{application_start_failure,App,Reason}"}
// and its repeat, {"could not start kernel pid",…,"error in config file …"},
// OTP 26's Runtime terminating during boot (…), SASL and logger reports
// (application: App exited: Reason type: permanent, crash and supervisor
// reports), Elixir's "** (Exception) message" blocks, "Application App
// exited: …" and "ERROR! Config provider … failed with:", the distribution's
// "Protocol 'inet_tcp': …", the emulator's usage after a bad flag, and the
// message field of logger JSON and logfmt lines.
//
// Reasons are read with a small term reader (ParseTerm): tuples, lists, maps,
// atoms quoted or not, strings, binaries (<<"…">>, <<101,110,…>>, <<N bytes>>),
// numbers, pids, and refs, ports and funs kept as text. A cut or depth-limited
// print (`...`, `{_}`, an empty slot) reads as Elided, and a term cut short
// returns what was read with an error wrapping ErrTruncated. Text decodes the
// byte lists and char lists Elixir messages reach do_boot as.
//
// A reason is walked to its innermost meaningful part — through
// {bad_return,{{M,start,Args},{'EXIT',…}}}, {shutdown,{failed_to_start_child,
// Child,…}}, {badmatch,…}, {Reason,Stacktrace} and Elixir exception structs —
// and the first, full line is preferred to its depth-truncated repeat. When
// the runtime's last word is generic (start-crash, crash-unknown) a specific
// supporting line (a Ranch listener's error, Postgrex's tcp connect) names
// the cause. Classify reads at most MaxRead bytes from each end of a log, and
// joins at most a bounded number of lines for a term printed over several.
package bootcause
