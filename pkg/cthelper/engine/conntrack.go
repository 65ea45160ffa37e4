package engine

import (
	"errors"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
)

// ctnetlink attributes of the conntrack in NFQA_CT
// (uapi/linux/netfilter/nfnetlink_conntrack.h).
const (
	ctaTupleOrig  = 1  // CTA_TUPLE_ORIG
	ctaTupleReply = 2  // CTA_TUPLE_REPLY
	ctaStatus     = 3  // CTA_STATUS
	ctaHelp       = 5  // CTA_HELP
	ctaTimeout    = 7  // CTA_TIMEOUT
	ctaZone       = 18 // CTA_ZONE

	ctaHelpName = 1 // CTA_HELP_NAME
	ctaHelpInfo = 2 // CTA_HELP_INFO

	ipsConfirmed = 1 << 3 // IPS_CONFIRMED
)

var errNoTuples = errors.New("conntrack without both tuples")

// conntrackView is what the engine reads from NFQA_CT.
type conntrackView struct {
	orig, reply ctnetlink.Tuple
	status      uint32
	zone        uint16
	hasZone     bool
	helper      []byte // CTA_HELP_NAME, aliasing the packet buffer
	info        []byte // CTA_HELP_INFO, aliasing the packet buffer
}

func (v *conntrackView) confirmed() bool { return v.status&ipsConfirmed != 0 }

// decodeConntrack reads the parts of a conntrack a helper needs, without
// allocating.
func decodeConntrack(b []byte, v *conntrackView) error {
	*v = conntrackView{}
	var haveOrig, haveReply bool
	s := ctnl.NewScanner(b)
	for s.Next() {
		switch s.Type() {
		case ctaTupleOrig:
			t, err := ctnetlink.DecodeTuple(s.Data())
			if err != nil {
				return err
			}
			v.orig, haveOrig = t, true
		case ctaTupleReply:
			t, err := ctnetlink.DecodeTuple(s.Data())
			if err != nil {
				return err
			}
			v.reply, haveReply = t, true
		case ctaStatus:
			v.status = s.Uint32()
		case ctaZone:
			v.zone, v.hasZone = s.Uint16(), true
		case ctaHelp:
			h := s.Nested()
			for h.Next() {
				switch h.Type() {
				case ctaHelpName:
					v.helper = h.Data()
					for i, c := range v.helper {
						if c == 0 {
							v.helper = v.helper[:i]
							break
						}
					}
				case ctaHelpInfo:
					v.info = h.Data()
				}
			}
			if err := h.Err(); err != nil {
				return err
			}
		}
	}
	if err := s.Err(); err != nil {
		return err
	}
	if !haveOrig || !haveReply {
		return errNoTuples
	}
	return nil
}
