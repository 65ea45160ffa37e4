package timeout

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/gonfct/gonfct/internal/output"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/cttimeout"
)

// record prints a policy, or a protocol's defaults, in every format.
type record struct {
	p        cttimeout.Policy
	defaults bool
}

var (
	columns        = []string{"NAME", "FAMILY", "PROTO", "USE", "TIMEOUTS"}
	defaultColumns = []string{"FAMILY", "PROTO", "TIMEOUTS"}
)

// states are the policy's known states that the kernel reported.
func (r record) states(fn func(name string, secs uint32)) {
	for _, s := range cttimeout.States(r.p.Proto) {
		if v, ok := r.p.Timeouts.Get(s.Attr); ok {
			fn(strings.ToLower(s.Name), v)
		}
	}
}

// AppendText is a block per policy: a head line, then a state a line with
// its seconds and, from a minute up, the same as a duration.
//
//	web inet tcp use 1
//	  syn_sent                 5
//	  established         432000  5d
func (r record) AppendText(b []byte) []byte {
	if r.defaults {
		b = append(b, "defaults "...)
	} else {
		b = append(b, r.p.Name...)
		b = append(b, ' ')
	}
	b = append(b, ctnl.FamilyName(r.p.Family)...)
	b = append(b, ' ')
	b = append(b, cttimeout.ProtoName(r.p.Proto)...)
	if !r.defaults {
		b = append(b, " use "...)
		b = strconv.AppendUint(b, uint64(r.p.Use), 10)
	}
	b = append(b, '\n')
	r.states(func(name string, secs uint32) {
		start := len(b)
		b = append(b, "  "...)
		b = append(b, name...)
		num := strconv.AppendUint(nil, uint64(secs), 10)
		for len(b)-start+len(num) < 28 {
			b = append(b, ' ')
		}
		b = append(b, num...)
		if secs >= 60 {
			b = append(b, "  "...)
			b = cttimeout.AppendDuration(b, secs)
		}
		b = append(b, '\n')
	})
	return b
}

func (r record) timeoutsCell() string {
	var parts []string
	r.states(func(name string, secs uint32) { parts = append(parts, name+"="+strconv.FormatUint(uint64(secs), 10)) })
	return strings.Join(parts, " ")
}

func (r record) Row() []string {
	fam, proto := ctnl.FamilyName(r.p.Family), cttimeout.ProtoName(r.p.Proto)
	if r.defaults {
		return []string{fam, proto, r.timeoutsCell()}
	}
	return []string{r.p.Name, fam, proto, strconv.FormatUint(uint64(r.p.Use), 10), r.timeoutsCell()}
}

// MarshalJSON writes the documented fields (docs/json.md, "timeout"), the
// timeouts in the kernel's state order.
func (r record) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	if !r.defaults {
		b = append(b, `"name":`...)
		name, err := json.Marshal(r.p.Name)
		if err != nil {
			return nil, err
		}
		b = append(b, name...)
		b = append(b, ',')
	}
	b = fmt.Appendf(b, `"family":%q,"protocol":%q,"l3proto":%d,"l4proto":%d,`,
		ctnl.FamilyName(r.p.Family), cttimeout.ProtoName(r.p.Proto), r.p.Family, r.p.Proto)
	if !r.defaults {
		b = fmt.Appendf(b, `"use":%d,`, r.p.Use)
	}
	b = append(b, `"timeouts":{`...)
	first := true
	r.states(func(name string, secs uint32) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = fmt.Appendf(b, "%q:%d", name, secs)
	})
	return append(b, "}}"...), nil
}

// AppendFormat serves -o nfct: nfct's list/get/default-get output.
func (r record) AppendFormat(f output.Format, b []byte) []byte {
	return cttimeout.AppendNfct(b, r.p)
}
