package cthelper

import (
	"fmt"

	"github.com/gonfct/gonfct/pkg/ctnl"
)

// nfnetlink_cthelper messages and attributes
// (uapi/linux/netfilter/nfnetlink_cthelper.h).
const (
	msgNew = 0 // NFNL_MSG_CTHELPER_NEW
	msgGet = 1 // NFNL_MSG_CTHELPER_GET
	msgDel = 2 // NFNL_MSG_CTHELPER_DEL

	attrName     = 1 // NFCTH_NAME, NUL string
	attrTuple    = 2 // NFCTH_TUPLE, nested
	attrQueueNum = 3 // NFCTH_QUEUE_NUM, be32
	attrPolicy   = 4 // NFCTH_POLICY, nested
	attrPrivLen  = 5 // NFCTH_PRIV_DATA_LEN, be32
	attrStatus   = 6 // NFCTH_STATUS, be32

	tupleL3 = 1 // NFCTH_TUPLE_L3PROTONUM, be16
	tupleL4 = 2 // NFCTH_TUPLE_L4PROTONUM, u8

	policySetNum = 1 // NFCTH_POLICY_SET_NUM, be32
	policySet1   = 2 // NFCTH_POLICY_SET1..SET4 = 2..5, nested

	policyName    = 1 // NFCTH_POLICY_NAME, NUL string
	policyMax     = 2 // NFCTH_POLICY_EXPECT_MAX, be32
	policyTimeout = 3 // NFCTH_POLICY_EXPECT_TIMEOUT, be32
)

// fields says which attributes an encoding carries: a create sends all,
// an update only what changes (the kernel refuses a changed private-data
// length or policy set with EBUSY).
type fields struct {
	queue, policies, privLen, status bool
}

var allFields = fields{queue: true, policies: true, privLen: true, status: true}

// encodeHelper appends a helper's attributes.
func encodeHelper(e *ctnl.Encoder, h *Helper, f fields) {
	e.String(attrName, h.Name)
	encodeTuple(e, h.Family, h.Proto)
	if f.queue {
		e.Uint32(attrQueueNum, h.QueueNum)
	}
	if f.policies {
		n := e.Nest(attrPolicy)
		e.Uint32(policySetNum, uint32(len(h.Policies)))
		for i, p := range h.Policies {
			s := e.Nest(uint16(policySet1 + i))
			e.String(policyName, p.Name)
			e.Uint32(policyMax, p.ExpectMax)
			e.Uint32(policyTimeout, p.ExpectTimeout)
			e.End(s)
		}
		e.End(n)
	}
	if f.privLen {
		e.Uint32(attrPrivLen, h.PrivLen)
	}
	if f.status {
		e.Uint32(attrStatus, uint32(h.Status))
	}
}

func encodeTuple(e *ctnl.Encoder, family, proto uint8) {
	t := e.Nest(attrTuple)
	e.Uint16(tupleL3, uint16(family))
	e.Uint8(tupleL4, proto)
	e.End(t)
}

// decodeHelper reads a helper from a NEW message's attributes.
func decodeHelper(b []byte) (Helper, error) {
	var h Helper
	s := ctnl.NewScanner(b)
	for s.Next() {
		switch s.Type() {
		case attrName:
			h.Name = s.String()
		case attrTuple:
			t := s.Nested()
			for t.Next() {
				switch t.Type() {
				case tupleL3:
					h.Family = uint8(t.Uint16())
				case tupleL4:
					h.Proto = t.Uint8()
				}
			}
			if err := t.Err(); err != nil {
				return h, err
			}
		case attrQueueNum:
			h.QueueNum = s.Uint32()
		case attrPolicy:
			p, err := decodePolicies(s.Data())
			if err != nil {
				return h, err
			}
			h.Policies = p
		case attrPrivLen:
			h.PrivLen = s.Uint32()
		case attrStatus:
			h.Status = Status(s.Uint32())
		}
	}
	if err := s.Err(); err != nil {
		return h, fmt.Errorf("decode helper: %w", err)
	}
	return h, nil
}

func decodePolicies(b []byte) ([]Policy, error) {
	var (
		ps  []Policy
		num = -1
	)
	s := ctnl.NewScanner(b)
	for s.Next() {
		t := s.Type()
		switch {
		case t == policySetNum:
			num = int(s.Uint32())
		case t >= policySet1 && t < policySet1+MaxPolicies:
			var p Policy
			in := s.Nested()
			for in.Next() {
				switch in.Type() {
				case policyName:
					p.Name = in.String()
				case policyMax:
					p.ExpectMax = in.Uint32()
				case policyTimeout:
					p.ExpectTimeout = in.Uint32()
				}
			}
			if err := in.Err(); err != nil {
				return nil, err
			}
			ps = append(ps, p)
		}
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	if num >= 0 && num < len(ps) {
		ps = ps[:num]
	}
	return ps, nil
}
