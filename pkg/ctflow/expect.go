package ctflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/expect"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"
)

// Expectations in a save file are written with pkg/expect's own JSON form
// (Expectation.AppendJSON, the objects `gonfct expect list -o json`
// prints), so one schema describes both. This file reads that form back.

// expectTupleJSON is a tuple of pkg/expect's JSON form.
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

// expectJSON is pkg/expect's JSON form of an expectation.
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

func (j *expectTupleJSON) tuple(proto uint8, mask bool) (ctnl.Tuple, error) {
	t := ctnl.Tuple{Proto: proto}
	if j.Proto != "" && !mask {
		p, err := ctnl.ParseProto(j.Proto)
		if err != nil {
			return t, err
		}
		t.Proto = p
	}
	var err error
	if t.Src, err = ctnl.ParseAddr(j.Src); err != nil {
		return t, fmt.Errorf("src: %w", err)
	}
	if t.Dst, err = ctnl.ParseAddr(j.Dst); err != nil {
		return t, fmt.Errorf("dst: %w", err)
	}
	if t.Src.Is4() != t.Dst.Is4() {
		return t, fmt.Errorf("src %s and dst %s mix IPv4 and IPv6", j.Src, j.Dst)
	}
	switch {
	case t.Proto == unix.IPPROTO_ICMP || t.Proto == unix.IPPROTO_ICMPV6:
		if j.Type == nil || j.Code == nil || j.ICMPID == nil {
			return t, errors.New("icmp tuple needs type, code and icmp_id")
		}
		t.ICMPType, t.ICMPCode, t.ICMPID = *j.Type, *j.Code, *j.ICMPID
	case ctnl.HasPorts(t.Proto) || t.Proto == unix.IPPROTO_GRE:
		if j.Sport == nil || j.Dport == nil {
			return t, fmt.Errorf("%s tuple needs sport and dport", ctnl.ProtoName(t.Proto))
		}
		t.SrcPort, t.DstPort = *j.Sport, *j.Dport
	}
	return t, nil
}

// ExpectEntry is one expectation of a save file, checked.
type ExpectEntry struct {
	Index int
	Exp   expect.Expectation
	Err   error
}

// parseExpectation reads one expectation in pkg/expect's JSON form. What
// the kernel reports but does not take on create is dropped: the id, and
// the helper name (in dumps it is the master's helper; on create it would
// name a helper for the expected connection) except where it is needed
// to keep a class above 0.
func parseExpectation(raw json.RawMessage) (expect.Expectation, error) {
	var (
		j expectJSON
		e expect.Expectation
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
	if e.Flags, err = expect.ParseFlags(strings.Join(j.Flags, ",")); err != nil {
		return e, err
	}
	e.Flags &^= expect.Userspace // the kernel sets it itself
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
		if e.NAT.Dir, err = expect.ParseNATDir(j.NAT.Dir); err != nil {
			return e, err
		}
		if e.NAT.Tuple.Src, err = ctnl.ParseAddr(j.NAT.Src); err != nil {
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

// masterKey is a conntrack's original tuple without its zone: expectation
// dumps carry masters without zones.
func masterKey(t ctnl.Tuple) ctnl.Tuple {
	t.Zone, t.HasZone = 0, false
	return t
}

// saveExpectations writes the expectations whose master is among the saved
// conntracks (masters: the saved conntracks with a helper).
func saveExpectations(c *ctnl.Conn, family uint8, masters map[ctnl.Tuple]struct{}, emit func([]byte) error) error {
	var buf []byte
	return expect.Dump(c, expect.ListOptions{Family: family}, func(e *expect.Expectation) error {
		if _, ok := masters[masterKey(e.Master)]; !ok {
			return nil
		}
		buf = e.AppendJSON(buf[:0])
		return emit(buf)
	})
}

// RestoreExpectation creates a saved expectation, or, if one with its
// tuple exists, sets its timeout (the kernel changes nothing else in
// place). The kernel takes the timeout of a new expectation from the
// master helper's policy, so a saved timeout is applied by an update right
// after the creation.
func RestoreExpectation(c *ctnl.Conn, e *expect.Expectation, dryRun bool) (Outcome, error) {
	_, err := expect.Get(c, e.Tuple, e.Zone, e.HasZone, 0)
	exists := err == nil
	if err != nil && !errors.Is(err, ctnl.ErrNotFound) {
		return Skipped, err
	}
	if dryRun {
		if exists {
			return Updated, nil
		}
		return Restored, nil
	}
	outcome := Updated
	if !exists {
		if err := expect.Create(c, e); err != nil {
			if !errors.Is(err, ctnl.ErrExists) {
				return Skipped, err
			}
		} else {
			outcome = Restored
		}
	}
	if e.Timeout == 0 {
		return outcome, nil
	}
	if err := updateExpectTimeout(c, e); err != nil {
		return Skipped, err
	}
	return outcome, nil
}

// updateExpectTimeout sends IPCTNL_MSG_EXP_NEW without NLM_F_CREATE, which
// ctnetlink_change_expect answers by setting the timeout.
func updateExpectTimeout(c *ctnl.Conn, e *expect.Expectation) error {
	u := expect.Expectation{Family: e.Family, Tuple: e.Tuple, Mask: e.Mask, Master: e.Master,
		Timeout: e.Timeout, Zone: e.Zone, HasZone: e.HasZone}
	enc := ctnl.NewEncoder(make([]byte, 0, 256))
	u.Encode(enc)
	return c.Do(ctnl.Request{Op: "set expectation timeout " + e.Tuple.String(), Subsys: netfilter.NFSubsysCTNetlinkExp,
		Type: 0, Family: netfilter.ProtoFamily(e.FamilyOf()), Attrs: enc.Bytes(),
		Hints: ctnl.Hints{unix.ETIME: "the expectation is expiring"}})
}
