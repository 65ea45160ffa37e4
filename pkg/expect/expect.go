package expect

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"golang.org/x/sys/unix"
)

// Flags are an expectation's NF_CT_EXPECT_* bits.
type Flags uint32

const (
	// Permanent: the expectation survives being matched, so it can be
	// matched again (until it times out or its master goes).
	Permanent Flags = 1 // NF_CT_EXPECT_PERMANENT
	// Inactive: the expectation is in the table but matches nothing yet.
	Inactive Flags = 2 // NF_CT_EXPECT_INACTIVE
	// Userspace marks an expectation made by user space; the kernel sets it
	// itself and strips it from create requests.
	Userspace Flags = 4 // NF_CT_EXPECT_USERSPACE
)

var flagNames = []struct {
	f    Flags
	name string
}{{Permanent, "PERMANENT"}, {Inactive, "INACTIVE"}, {Userspace, "USERSPACE"}}

// AppendText appends the flags as conntrack prints them: PERMANENT,INACTIVE.
func (f Flags) AppendText(b []byte) []byte {
	first := true
	for _, n := range flagNames {
		if f&n.f != 0 {
			if !first {
				b = append(b, ',')
			}
			b = append(b, n.name...)
			first = false
		}
	}
	return b
}

func (f Flags) String() string { return string(f.AppendText(nil)) }

// Names lists the flags' lower-case names, for JSON.
func (f Flags) Names() []string {
	names := []string{}
	for _, n := range flagNames {
		if f&n.f != 0 {
			names = append(names, strings.ToLower(n.name))
		}
	}
	return names
}

// ParseFlags reads a comma-separated flag list: permanent,inactive.
func ParseFlags(s string) (Flags, error) {
	var f Flags
	for _, w := range strings.Split(s, ",") {
		w = strings.TrimSpace(w)
		if w == "" {
			continue
		}
		found := false
		for _, n := range flagNames {
			if strings.EqualFold(w, n.name) {
				f |= n.f
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("unknown expectation flag %q: want permanent, inactive (comma-separated)", w)
		}
	}
	return f, nil
}

// NAT is where the kernel NATs the expected connection when it arrives
// (CTA_EXPECT_NAT): Dir is the master direction whose source it rewrites
// and Tuple's source address and port are the saved NAT address and port.
type NAT struct {
	Set   bool
	Dir   uint32 // 0 original (IP_CT_DIR_ORIGINAL), 1 reply
	Tuple ctnetlink.Tuple
}

// Expectation is one conntrack expectation: the kernel lets a connection
// matching Tuple under Mask in as RELATED to Master.
type Expectation struct {
	// Family is AF_INET or AF_INET6 (the nfgenmsg family).
	Family uint8
	// Tuple is the expected connection, original direction.
	Tuple ctnetlink.Tuple
	// Mask says which bits of Tuple must match. The kernel keeps only the
	// source address and source port; the destination always matches
	// exactly. A zero Mask encodes as an exact match.
	Mask ctnetlink.Tuple
	// Master is the master conntrack's original tuple. Encode skips it
	// when unset (the helper engine's NFQA_EXP has an implicit master).
	Master ctnetlink.Tuple
	// Timeout is the seconds left (dumps, events). On create the kernel
	// ignores it and uses the master helper's policy; on update it sets it.
	Timeout uint32
	// ID identifies the expectation (CTA_EXPECT_ID) in dumps; it narrows
	// a get or delete by tuple.
	ID    uint32
	Flags Flags
	// Class is the helper policy class (expectation policy index).
	Class uint32
	// Helper: in dumps and events the master's helper; on create the
	// helper to assign to the expected connection (and to check Class
	// against).
	Helper string
	// Zone (CTA_EXPECT_ZONE): on create, get and delete the zone of the
	// master; the kernel never reports it in dumps.
	Zone    uint16
	HasZone bool
	NAT     NAT
	// Fn is the expectfn run when the expected connection arrives, such
	// as "nat-follow-master".
	Fn string
}

// Validate checks an expectation for create: tuples present and of one
// family, protocol of the master's, mask destination exact.
func (e *Expectation) Validate() error {
	if !e.Master.Src.IsValid() || !e.Master.Dst.IsValid() {
		return errors.New("expectation needs a master tuple")
	}
	if !e.Tuple.Src.IsValid() || !e.Tuple.Dst.IsValid() {
		return errors.New("expectation needs an expected tuple")
	}
	if e.Tuple.Family() != e.Master.Family() {
		return fmt.Errorf("expected tuple is %s but master is %s: both must be one family",
			ctnl.L3Name(e.Tuple.Family()), ctnl.L3Name(e.Master.Family()))
	}
	if e.Mask.Src.IsValid() && e.Mask.Family() != e.Tuple.Family() {
		return fmt.Errorf("mask is %s but the tuple is %s", ctnl.L3Name(e.Mask.Family()), ctnl.L3Name(e.Tuple.Family()))
	}
	if e.Mask.Dst.IsValid() {
		full := ExactMask(e.Tuple)
		if e.Mask.Dst != full.Dst || (ctnetlink.Layer4Of(e.Tuple.Proto) == ctnetlink.Ports && e.Mask.DstPort != 0xffff) {
			return errors.New("the kernel matches the expected destination exactly: the mask's destination must be all ones (" +
				full.Dst.String() + ", port 65535)")
		}
	}
	if e.Flags&^(Permanent|Inactive|Userspace) != 0 {
		return fmt.Errorf("unknown expectation flags %#x", uint32(e.Flags))
	}
	if e.NAT.Set && e.NAT.Dir > 1 {
		return fmt.Errorf("NAT direction %d: want 0 (original) or 1 (reply)", e.NAT.Dir)
	}
	return nil
}

// ExactMask is the mask that matches t exactly.
func ExactMask(t ctnetlink.Tuple) ctnetlink.Tuple {
	m := ctnetlink.Tuple{Proto: t.Proto}
	switch t.Proto {
	case unix.IPPROTO_ICMP, unix.IPPROTO_ICMPV6:
		m.ICMPID, m.ICMPType, m.ICMPCode = 0xffff, 0xff, 0xff
	default:
		m.SrcPort, m.DstPort = 0xffff, 0xffff
	}
	if t.Family() == unix.AF_INET6 {
		m.Src, m.Dst = allOnes6, allOnes6
	} else {
		m.Src, m.Dst = allOnes4, allOnes4
	}
	return m
}

// DefaultMask is the mask the kernel's own helpers give an expectation:
// exact, except that a zero source address or source port (unknown when
// the helper expects the connection) matches any. The kernel matches the
// destination exactly whatever the mask says.
func DefaultMask(t ctnetlink.Tuple) ctnetlink.Tuple {
	m := ExactMask(t)
	if t.Src.IsUnspecified() {
		m.Src = netip.IPv6Unspecified()
		if t.Src.Is4() {
			m.Src = netip.IPv4Unspecified()
		}
	}
	if ctnetlink.Layer4Of(t.Proto) == ctnetlink.Ports && t.SrcPort == 0 {
		m.SrcPort = 0
	}
	return m
}

var (
	allOnes4 = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	allOnes6 = netip.AddrFrom16([16]byte{255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255})
)

// FamilyOf is the expectation's layer-3 family: Family if set, else from
// the addresses.
func (e *Expectation) FamilyOf() uint8 {
	if e.Family != 0 {
		return e.Family
	}
	return e.Tuple.Family()
}

// Encode appends the expectation's CTA_EXPECT_* attributes (no nfgenmsg):
// the body of IPCTNL_MSG_EXP_NEW and of NFQA_EXP. It encodes Master only
// when set, Mask as an exact match when unset, and the optional attributes
// only when set.
func (e *Expectation) Encode(enc *ctnl.Encoder) {
	if e.Master.Src.IsValid() {
		e.Master.Encode(enc, ctnetlink.AttrExpectMaster)
	}
	e.Tuple.Encode(enc, ctnetlink.AttrExpectTuple)
	m := e.Mask
	if !m.Src.IsValid() && !m.Dst.IsValid() && m.Proto == 0 {
		m = ExactMask(e.Tuple)
	}
	// ctnetlink parses the mask with the tuple's protocol handler, which
	// wants the protocol number in the mask too.
	m.Proto = e.Tuple.Proto
	m.HasZone = false
	m.Encode(enc, ctnetlink.AttrExpectMask)
	if e.Timeout != 0 {
		enc.Uint32(ctnetlink.AttrExpectTimeout, e.Timeout)
	}
	if e.ID != 0 {
		enc.Uint32(ctnetlink.AttrExpectID, e.ID)
	}
	if e.Helper != "" {
		enc.String(ctnetlink.AttrExpectHelpName, e.Helper)
	}
	if e.HasZone {
		enc.Uint16(ctnetlink.AttrExpectZone, e.Zone)
	}
	if e.Flags != 0 {
		enc.Uint32(ctnetlink.AttrExpectFlags, uint32(e.Flags))
	}
	if e.Class != 0 {
		enc.Uint32(ctnetlink.AttrExpectClass, e.Class)
	}
	if e.NAT.Set {
		n := enc.Nest(ctnetlink.AttrExpectNAT)
		enc.Uint32(ctnetlink.AttrExpectNATDir, e.NAT.Dir)
		e.NAT.Tuple.Encode(enc, ctnetlink.AttrExpectNATTuple)
		enc.End(n)
	}
	if e.Fn != "" {
		enc.String(ctnetlink.AttrExpectFn, e.Fn)
	}
}

// Decode reads an expectation from CTA_EXPECT_* attributes. It allocates
// the helper and expectfn names; a Decoder reuses them across messages.
func Decode(attrs []byte) (Expectation, error) {
	var (
		d Decoder
		e Expectation
	)
	err := d.Decode(attrs, &e)
	return e, err
}

// Decoder decodes expectations without allocating in the steady state: it
// keeps the few helper and expectfn names a table holds and hands out the
// same strings again.
type Decoder struct {
	names []string
}

func (d *Decoder) intern(b []byte) string {
	if n := len(b); n > 0 && b[n-1] == 0 {
		b = b[:n-1]
	}
	for _, s := range d.names {
		if s == string(b) {
			return s
		}
	}
	s := string(b)
	if len(d.names) < 16 {
		d.names = append(d.names, s)
	}
	return s
}

// Decode fills e (reset first) from CTA_EXPECT_* attributes.
func (d *Decoder) Decode(attrs []byte, e *Expectation) error {
	*e = Expectation{}
	s := ctnl.NewScanner(attrs)
	var err error
	for s.Next() {
		switch s.Type() {
		case ctnetlink.AttrExpectMaster:
			e.Master, err = ctnetlink.DecodeTuple(s.Data())
		case ctnetlink.AttrExpectTuple:
			e.Tuple, err = ctnetlink.DecodeTuple(s.Data())
		case ctnetlink.AttrExpectMask:
			e.Mask, err = ctnetlink.DecodeTuple(s.Data())
		case ctnetlink.AttrExpectTimeout:
			e.Timeout = s.Uint32()
		case ctnetlink.AttrExpectID:
			e.ID = s.Uint32()
		case ctnetlink.AttrExpectHelpName:
			e.Helper = d.intern(s.Data())
		case ctnetlink.AttrExpectZone:
			e.Zone, e.HasZone = s.Uint16(), true
		case ctnetlink.AttrExpectFlags:
			e.Flags = Flags(s.Uint32())
		case ctnetlink.AttrExpectClass:
			e.Class = s.Uint32()
		case ctnetlink.AttrExpectNAT:
			e.NAT.Set = true
			n := s.Nested()
			for n.Next() {
				switch n.Type() {
				case ctnetlink.AttrExpectNATDir:
					e.NAT.Dir = n.Uint32()
				case ctnetlink.AttrExpectNATTuple:
					e.NAT.Tuple, err = ctnetlink.DecodeTuple(n.Data())
				}
			}
			if err == nil {
				err = n.Err()
			}
		case ctnetlink.AttrExpectFn:
			e.Fn = d.intern(s.Data())
		}
		if err != nil {
			return fmt.Errorf("decode expectation: %w", err)
		}
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("decode expectation: %w", err)
	}
	e.Family = e.Tuple.Family()
	return nil
}
