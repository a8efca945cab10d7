package bootcause

// Term is an Erlang term as printed: Atom, Int, Float, String, List, Tuple, Map, Binary, Pid, Opaque or Elided.
type Term interface{ isTerm() }

// Atom is an atom, quoted or not ('EXIT', eaddrinuse, 'Elixir.Mix').
type Atom string

// Int is an integer (or a $c character literal).
type Int int64

// Float is a float.
type Float float64

// String is a double-quoted string: a char list the printer showed as text.
type String string

// List is [E1,…,En] or [E1,…,En|Tail]; Tail is nil for a proper list.
type List struct {
	Elems []Term
	Tail  Term
}

// Tuple is {E1,…,En}.
type Tuple []Term

// Map is #{K1 => V1,…}; Keys and Values have the same length.
type Map struct {
	Keys   []Term
	Values []Term
}

// Binary is <<…>>: its bytes, or only its size when printed as <<N bytes>>.
type Binary struct {
	Data []byte
	// Size is set (and Data nil) for a binary printed as <<N bytes>>.
	Size int
	// Cut says the printer left bytes out (<<1,2,...>>, <<N bytes>>).
	Cut bool
}

// Pid is a process identifier as printed, "<0.78.0>".
type Pid string

// Opaque is a term kept as text: a reference, a port, a fun, a big integer.
type Opaque struct {
	Kind string // "Ref", "Port", "Fun", "PID", "fun", "integer", …
	Text string
}

// Elided is what a depth-limited print left out: `...`, `_`, an empty slot.
type Elided struct{}

func (Atom) isTerm()   {}
func (Int) isTerm()    {}
func (Float) isTerm()  {}
func (String) isTerm() {}
func (List) isTerm()   {}
func (Tuple) isTerm()  {}
func (Map) isTerm()    {}
func (Binary) isTerm() {}
func (Pid) isTerm()    {}
func (Opaque) isTerm() {}
func (Elided) isTerm() {}

// Get returns the value of key k in a map (an atom key given as its name).
func (m Map) Get(k string) (Term, bool) {
	for i, key := range m.Keys {
		if a, ok := key.(Atom); ok && string(a) == k {
			return m.Values[i], true
		}
	}
	return nil, false
}

// HasElided reports whether a depth-limited print left anything out of t.
func HasElided(t Term) bool {
	switch v := t.(type) {
	case Elided:
		return true
	case Binary:
		return v.Cut
	case Tuple:
		for _, e := range v {
			if HasElided(e) {
				return true
			}
		}
	case List:
		for _, e := range v.Elems {
			if HasElided(e) {
				return true
			}
		}
		return v.Tail != nil && HasElided(v.Tail)
	case Map:
		for i := range v.Keys {
			if HasElided(v.Keys[i]) || HasElided(v.Values[i]) {
				return true
			}
		}
	}
	return false
}
