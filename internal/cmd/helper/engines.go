package helper

import (
	"fmt"
	"strings"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/engine/registry"
	"github.com/gonfct/gonfct/pkg/ctnl"
)

// servedBy is the `gonfct run` serving a helper, as listings show it.
type servedBy struct {
	PID int `json:"pid"`
	// Netns are the namespaces it serves; its own is shown by a name
	// another process can use (registry.Entry.OwnName).
	Netns []string `json:"netns"`
	// Follows are the directories whose every namespace it serves.
	Follows []string `json:"follows,omitempty"`
}

// runningEngines reads the host's engine registry. A registry that
// cannot be read only costs the listing its engine column: it says so
// on stderr.
func runningEngines(env *cli.Env, dir string) []registry.Entry {
	es, err := registry.Open(dir).Live()
	if err != nil {
		fmt.Fprintf(env.Err, "gonfct: warning: %v: the listing cannot say which engine serves each helper\n", err)
	}
	return es
}

// engineServing finds the engine serving h.
func engineServing(engines []registry.Entry, h cthelper.Helper) *servedBy {
	key := registry.Helper{Name: h.Name, Family: ctnl.FamilyName(h.Family), Proto: ctnl.ProtoName(h.Proto)}
	for _, e := range engines {
		if _, ok := e.Serves(key); ok {
			s := &servedBy{PID: e.PID, Follows: e.Follows, Netns: []string{}}
			for _, n := range e.Netns {
				if n == "" {
					n = e.OwnName()
				}
				s.Netns = append(s.Netns, n)
			}
			return s
		}
	}
	return nil
}

// text is the engine in the text listing: "engine=pid:42 netns=a,b".
func (s *servedBy) text() string {
	if s == nil {
		return ""
	}
	t := fmt.Sprintf(" engine=pid:%d netns=%s", s.PID, strings.Join(s.Netns, ","))
	if len(s.Follows) > 0 {
		t += " follows=" + strings.Join(s.Follows, ",")
	}
	return t
}

// cell is the engine in the table.
func (s *servedBy) cell() string {
	if s == nil {
		return "-"
	}
	return strings.TrimPrefix(s.text(), " ")
}
