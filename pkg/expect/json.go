package expect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"golang.org/x/sys/unix"
)

// AppendJSON appends the expectation as one JSON object with the stable
// field names documented in docs/json.md ("expect"). It is written by hand
// so that listing a large table does not go through reflection.
func (e *Expectation) AppendJSON(b []byte) []byte {
	b = append(b, `{"family":"`...)
	b = append(b, ctnl.L3Name(e.FamilyOf())...)
	b = append(b, `","proto":"`...)
	b = append(b, ctnl.ProtoName(e.Tuple.Proto)...)
	b = append(b, `","proto_num":`...)
	b = strconv.AppendUint(b, uint64(e.Tuple.Proto), 10)
	b = append(b, `,"timeout":`...)
	b = strconv.AppendUint(b, uint64(e.Timeout), 10)
	b = append(b, `,"id":`...)
	b = strconv.AppendUint(b, uint64(e.ID), 10)
	b = append(b, `,"tuple":`...)
	b = e.Tuple.AppendJSON(b, e.Tuple.Proto, "proto")
	b = append(b, `,"mask":`...)
	b = e.Mask.AppendJSON(b, e.Tuple.Proto, "")
	b = append(b, `,"master":`...)
	b = e.Master.AppendJSON(b, e.Master.Proto, "proto")
	b = append(b, `,"flags":[`...)
	for _, n := range flagNames {
		if e.Flags&n.f != 0 {
			if b[len(b)-1] != '[' {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = appendLower(b, n.name)
			b = append(b, '"')
		}
	}
	b = append(b, `],"class":`...)
	b = strconv.AppendUint(b, uint64(e.Class), 10)
	b = append(b, `,"helper":`...)
	b = ctnetlink.AppendJSONString(b, e.Helper)
	if e.HasZone {
		b = append(b, `,"zone":`...)
		b = strconv.AppendUint(b, uint64(e.Zone), 10)
	}
	if e.NAT.Set {
		b = append(b, `,"nat":{"dir":"`...)
		b = append(b, NATDirName(e.NAT.Dir)...)
		b = append(b, `","src":"`...)
		b = ctnetlink.AppendAddr(b, e.NAT.Tuple.Src)
		b = append(b, `","sport":`...)
		b = strconv.AppendUint(b, uint64(e.NAT.Tuple.SrcPort), 10)
		b = append(b, '}')
	}
	if e.Fn != "" {
		b = append(b, `,"expectfn":`...)
		b = ctnetlink.AppendJSONString(b, e.Fn)
	}
	return append(b, '}')
}

func appendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// expectJSON is the JSON form AppendJSON writes, for ParseJSON.
type expectJSON struct {
	Family   string              `json:"family"`
	Proto    string              `json:"proto"`
	ProtoNum uint8               `json:"proto_num"`
	Timeout  uint32              `json:"timeout"`
	ID       uint32              `json:"id"`
	Tuple    ctnetlink.TupleJSON `json:"tuple"`
	Mask     ctnetlink.TupleJSON `json:"mask"`
	Master   ctnetlink.TupleJSON `json:"master"`
	Flags    []string            `json:"flags"`
	Class    uint32              `json:"class"`
	Helper   string              `json:"helper"`
	Zone     *uint16             `json:"zone"`
	NAT      *struct {
		Dir   string `json:"dir"`
		Src   string `json:"src"`
		Sport uint16 `json:"sport"`
	} `json:"nat"`
	Expectfn string `json:"expectfn"`
}

// ParseJSON reads one expectation in the form AppendJSON writes, keeping
// what a create can carry. What the kernel reports but does not take on
// create is dropped: the id, and the helper name (in dumps it is the
// master's helper; on create it would name a helper for the expected
// connection) except where it is needed to keep a class above 0.
func ParseJSON(raw []byte) (Expectation, error) {
	var (
		j expectJSON
		e Expectation
	)
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(&j); err != nil {
		return e, err
	}
	proto := j.ProtoNum
	if j.Proto != "" && j.Proto != "unknown" {
		p, err := ctnl.ParseProto(j.Proto)
		if err != nil {
			return e, err
		}
		proto = p
	}
	var err error
	if e.Tuple, err = j.Tuple.Tuple(proto); err != nil {
		return e, fmt.Errorf("tuple: %w", err)
	}
	// A mask always takes the expected tuple's protocol.
	j.Mask.Proto, j.Mask.Protocol = "", ""
	if e.Mask, err = j.Mask.Tuple(e.Tuple.Proto); err != nil {
		return e, fmt.Errorf("mask: %w", err)
	}
	if e.Master, err = j.Master.Tuple(proto); err != nil {
		return e, fmt.Errorf("master: %w", err)
	}
	switch j.Family {
	case "ipv4":
		e.Family = unix.AF_INET
	case "ipv6":
		e.Family = unix.AF_INET6
	default:
		return e, fmt.Errorf("family %q: want ipv4 or ipv6", j.Family)
	}
	if e.Flags, err = ParseFlags(strings.Join(j.Flags, ",")); err != nil {
		return e, err
	}
	e.Flags &^= Userspace // the kernel sets it itself
	e.Class = j.Class
	if j.Class > 0 {
		e.Helper = j.Helper
	}
	e.Timeout = j.Timeout
	if j.Zone != nil {
		e.Zone, e.HasZone = *j.Zone, true
	}
	if j.NAT != nil {
		e.NAT.Set = true
		if e.NAT.Dir, err = ParseNATDir(j.NAT.Dir); err != nil {
			return e, err
		}
		if e.NAT.Tuple.Src, err = ctnetlink.ParseAddr(j.NAT.Src); err != nil {
			return e, fmt.Errorf("nat: %w", err)
		}
		e.NAT.Tuple.Dst = e.Tuple.Dst
		e.NAT.Tuple.Proto = e.Tuple.Proto
		e.NAT.Tuple.SrcPort = j.NAT.Sport
	}
	e.Fn = j.Expectfn
	if err := e.Validate(); err != nil {
		return e, err
	}
	return e, nil
}
