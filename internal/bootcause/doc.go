// Package bootcause reads what an Erlang/Elixir release printed when it
// failed to boot.
//
// ParseTerm reads Erlang terms as the runtime prints them: tuples, lists,
// maps, atoms quoted or not, strings, binaries (<<"…">>, <<101,110,…>>,
// <<N bytes>>), numbers, pids, and refs, ports and funs kept as text. A cut
// or depth-limited print (`...`, `{_}`, an empty slot) reads as Elided, and a
// term cut short returns what was read with an error wrapping ErrTruncated.
// Text decodes the byte lists and char lists Elixir messages reach do_boot as.
package bootcause
