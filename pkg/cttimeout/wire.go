package cttimeout

import (
	"fmt"

	"github.com/gonfct/gonfct/pkg/ctnl"
)

// The cttimeout netlink interface (uapi linux/netfilter/nfnetlink_cttimeout.h).
const (
	subsysTimeout = 8 // NFNL_SUBSYS_CTNETLINK_TIMEOUT

	msgNew        = 0 // IPCTNL_MSG_TIMEOUT_NEW
	msgGet        = 1 // IPCTNL_MSG_TIMEOUT_GET
	msgDelete     = 2 // IPCTNL_MSG_TIMEOUT_DELETE
	msgDefaultSet = 3 // IPCTNL_MSG_TIMEOUT_DEFAULT_SET
	msgDefaultGet = 4 // IPCTNL_MSG_TIMEOUT_DEFAULT_GET

	attrName    = 1 // CTA_TIMEOUT_NAME, NUL-terminated, at most 31 bytes
	attrL3Proto = 2 // CTA_TIMEOUT_L3PROTO, be16
	attrL4Proto = 3 // CTA_TIMEOUT_L4PROTO, u8
	attrData    = 4 // CTA_TIMEOUT_DATA, nested per protocol, be32 seconds
	attrUse     = 5 // CTA_TIMEOUT_USE, be32 reference count

	// MaxNameLen is the longest policy name (CTNL_TIMEOUT_NAME_MAX - 1).
	MaxNameLen = 31
)

// Policy is a timeout policy as the kernel reports it, or the defaults of
// one protocol tracker (then Name is empty and Use 0).
type Policy struct {
	Name     string
	Family   uint8 // CTA_TIMEOUT_L3PROTO: AF_INET or AF_INET6
	Proto    uint8 // CTA_TIMEOUT_L4PROTO
	Timeouts Timeouts
	// Use is the kernel's reference count: 1 for the policy itself plus one
	// per user (a CT --timeout rule). A policy with Use > 1 cannot be deleted.
	Use uint32
}

// marshalPolicy encodes a policy for IPCTNL_MSG_TIMEOUT_NEW, as nfct does:
// name, families, then the set states in attribute order.
func marshalPolicy(e *ctnl.Encoder, p Policy) {
	e.String(attrName, p.Name)
	marshalKey(e, p.Family, p.Proto)
	marshalData(e, p.Timeouts)
}

// marshalKey encodes the families, the key of IPCTNL_MSG_TIMEOUT_DEFAULT_GET.
func marshalKey(e *ctnl.Encoder, family, proto uint8) {
	e.Uint16(attrL3Proto, uint16(family))
	e.Uint8(attrL4Proto, proto)
}

// marshalDefaults encodes IPCTNL_MSG_TIMEOUT_DEFAULT_SET.
func marshalDefaults(e *ctnl.Encoder, family, proto uint8, t Timeouts) {
	marshalKey(e, family, proto)
	marshalData(e, t)
}

func marshalData(e *ctnl.Encoder, t Timeouts) {
	n := e.Nest(attrData)
	for a := uint16(1); a <= maxAttr; a++ {
		if v, ok := t.Get(a); ok {
			e.Uint32(a, v)
		}
	}
	e.End(n)
}

// marshalName encodes the key of GET and DELETE.
func marshalName(e *ctnl.Encoder, name string) { e.String(attrName, name) }

// unmarshalPolicy decodes the attributes of a policy message (the answer to
// GET, a dump entry, the answer to DEFAULT_GET). It keeps every state
// attribute it can hold, known or not; it does not allocate beyond the name.
func unmarshalPolicy(b []byte) (Policy, error) {
	var p Policy
	s := ctnl.NewScanner(b)
	for s.Next() {
		switch s.Type() {
		case attrName:
			p.Name = s.String()
		case attrL3Proto:
			p.Family = uint8(s.Uint16())
		case attrL4Proto:
			p.Proto = s.Uint8()
		case attrUse:
			p.Use = s.Uint32()
		case attrData:
			d := s.Nested()
			for d.Next() {
				v := d.Uint32()
				p.Timeouts.Set(d.Type(), v)
			}
			if err := d.Err(); err != nil {
				return p, fmt.Errorf("timeout policy %q: %w", p.Name, err)
			}
		}
	}
	if err := s.Err(); err != nil {
		return p, fmt.Errorf("timeout policy %q: %w", p.Name, err)
	}
	return p, nil
}
