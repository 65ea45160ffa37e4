package expect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
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
	b = appendJSONTuple(b, &e.Tuple, e.Tuple.Proto, true)
	b = append(b, `,"mask":`...)
	b = appendJSONTuple(b, &e.Mask, e.Tuple.Proto, false)
	b = append(b, `,"master":`...)
	b = appendJSONTuple(b, &e.Master, e.Master.Proto, true)
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
	b = strconv.AppendQuote(b, e.Helper)
	if e.HasZone {
		b = append(b, `,"zone":`...)
		b = strconv.AppendUint(b, uint64(e.Zone), 10)
	}
	if e.NAT.Set {
		b = append(b, `,"nat":{"dir":"`...)
		b = append(b, NATDirName(e.NAT.Dir)...)
		b = append(b, `","src":"`...)
		b = appendAddr(b, e.NAT.Tuple.Src)
		b = append(b, `","sport":`...)
		b = strconv.AppendUint(b, uint64(e.NAT.Tuple.SrcPort), 10)
		b = append(b, '}')
	}
	if e.Fn != "" {
		b = append(b, `,"expectfn":`...)
		b = strconv.AppendQuote(b, e.Fn)
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

func appendJSONTuple(b []byte, t *ctnetlink.Tuple, p uint8, withProto bool) []byte {
	b = append(b, '{')
	if withProto {
		b = append(b, `"proto":"`...)
		b = append(b, ctnl.ProtoName(p)...)
		b = append(b, `",`...)
	}
	b = appendJSONAddr(b, `"src":`, t.Src)
	b = appendJSONAddr(b, `,"dst":`, t.Dst)
	switch l4 := ctnetlink.Layer4Of(p); {
	case l4.PortAttrs():
		b = append(b, `,"sport":`...)
		b = strconv.AppendUint(b, uint64(t.SrcPort), 10)
		b = append(b, `,"dport":`...)
		b = strconv.AppendUint(b, uint64(t.DstPort), 10)
	case l4 == ctnetlink.ICMPFields:
		b = append(b, `,"type":`...)
		b = strconv.AppendUint(b, uint64(t.ICMPType), 10)
		b = append(b, `,"code":`...)
		b = strconv.AppendUint(b, uint64(t.ICMPCode), 10)
		b = append(b, `,"icmp_id":`...)
		b = strconv.AppendUint(b, uint64(t.ICMPID), 10)
	}
	return append(b, '}')
}

func appendJSONAddr(b []byte, key string, a netip.Addr) []byte {
	b = append(b, key...)
	b = append(b, '"')
	b = appendAddr(b, a)
	return append(b, '"')
}

// expectTupleJSON is a tuple of the JSON form AppendJSON writes.
type expectTupleJSON struct {
	Proto  string  `json:"proto"`
	Src    string  `json:"src"`
	Dst    string  `json:"dst"`
	Sport  *uint16 `json:"sport"`
	Dport  *uint16 `json:"dport"`
	Type   *uint8  `json:"type"`
	Code   *uint8  `json:"code"`
	ICMPID *uint16 `json:"icmp_id"`
}

// expectJSON is the JSON form AppendJSON writes, for ParseJSON.
type expectJSON struct {
	Family   string          `json:"family"`
	Proto    string          `json:"proto"`
	ProtoNum uint8           `json:"proto_num"`
	Timeout  uint32          `json:"timeout"`
	ID       uint32          `json:"id"`
	Tuple    expectTupleJSON `json:"tuple"`
	Mask     expectTupleJSON `json:"mask"`
	Master   expectTupleJSON `json:"master"`
	Flags    []string        `json:"flags"`
	Class    uint32          `json:"class"`
	Helper   string          `json:"helper"`
	Zone     *uint16         `json:"zone"`
	NAT      *struct {
		Dir   string `json:"dir"`
		Src   string `json:"src"`
		Sport uint16 `json:"sport"`
	} `json:"nat"`
	Expectfn string `json:"expectfn"`
}

func (j *expectTupleJSON) tuple(proto uint8, mask bool) (ctnetlink.Tuple, error) {
	t := ctnetlink.Tuple{Proto: proto}
	if j.Proto != "" && !mask {
		p, err := ctnl.ParseProto(j.Proto)
		if err != nil {
			return t, err
		}
		t.Proto = p
	}
	var err error
	if t.Src, err = ctnetlink.ParseAddr(j.Src); err != nil {
		return t, fmt.Errorf("src: %w", err)
	}
	if t.Dst, err = ctnetlink.ParseAddr(j.Dst); err != nil {
		return t, fmt.Errorf("dst: %w", err)
	}
	if t.Src.Is4() != t.Dst.Is4() {
		return t, fmt.Errorf("src %s and dst %s mix IPv4 and IPv6", j.Src, j.Dst)
	}
	switch l4 := ctnetlink.Layer4Of(t.Proto); {
	case l4 == ctnetlink.ICMPFields:
		if j.Type == nil || j.Code == nil || j.ICMPID == nil {
			return t, errors.New("icmp tuple needs type, code and icmp_id")
		}
		t.ICMPType, t.ICMPCode, t.ICMPID = *j.Type, *j.Code, *j.ICMPID
	case l4.PortAttrs():
		if j.Sport == nil || j.Dport == nil {
			return t, fmt.Errorf("%s tuple needs sport and dport", ctnl.ProtoName(t.Proto))
		}
		t.SrcPort, t.DstPort = *j.Sport, *j.Dport
	}
	return t, nil
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
	if e.Tuple, err = j.Tuple.tuple(proto, false); err != nil {
		return e, fmt.Errorf("tuple: %w", err)
	}
	if e.Mask, err = j.Mask.tuple(proto, true); err != nil {
		return e, fmt.Errorf("mask: %w", err)
	}
	if e.Master, err = j.Master.tuple(proto, false); err != nil {
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
