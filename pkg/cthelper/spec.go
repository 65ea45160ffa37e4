package cthelper

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Spec is what a built-in helper is by default.
type Spec struct {
	Name     string
	Protos   []uint8 // IPPROTO_TCP and/or IPPROTO_UDP
	Families []uint8 // AF_INET and/or AF_INET6
	PrivLen  uint32
	Policies []Policy
	// Port is the well-known port of the master connection, for the rules
	// gonfct prints (0 if the protocol has none).
	Port uint16
	// Doc is one line about the helper, for listings.
	Doc string
	// NewParser builds the protocol parser with its options; nil when this
	// build has no parser for the helper (it can still be added as an
	// object, for another engine such as conntrackd).
	NewParser func(Options) (Parser, error)
}

// Supports reports whether the helper exists for that family and protocol.
func (s *Spec) Supports(family, proto uint8) bool {
	return slices.Contains(s.Families, family) && slices.Contains(s.Protos, proto)
}

// Registry is a table of built-in helper specs by name.
type Registry struct {
	specs map[string]*Spec
}

// NewRegistry builds a registry; it panics on a duplicate name, which is a
// programming error in the table.
func NewRegistry(specs ...Spec) *Registry {
	r := &Registry{specs: map[string]*Spec{}}
	for i := range specs {
		s := specs[i]
		if _, dup := r.specs[s.Name]; dup {
			panic("cthelper: duplicate built-in helper " + s.Name)
		}
		r.specs[s.Name] = &s
	}
	return r
}

// Lookup finds a spec by name.
func (r *Registry) Lookup(name string) (*Spec, bool) {
	s, ok := r.specs[name]
	return s, ok
}

// Names lists the built-in helper names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.specs))
	for n := range r.specs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// UnknownHelperError says that name is not built in, and which names are.
func (r *Registry) UnknownHelperError(name string) error {
	return fmt.Errorf("no built-in helper %q (built in: %s)", name, strings.Join(r.Names(), ", "))
}
