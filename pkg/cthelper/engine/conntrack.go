package engine

import (
	"errors"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
)

const ipsConfirmed = 1 << 3 // IPS_CONFIRMED

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
		case ctnetlink.AttrTupleOrig:
			t, err := ctnetlink.DecodeTuple(s.Data())
			if err != nil {
				return err
			}
			v.orig, haveOrig = t, true
		case ctnetlink.AttrTupleReply:
			t, err := ctnetlink.DecodeTuple(s.Data())
			if err != nil {
				return err
			}
			v.reply, haveReply = t, true
		case ctnetlink.AttrStatus:
			v.status = s.Uint32()
		case ctnetlink.AttrZone:
			v.zone, v.hasZone = s.Uint16(), true
		case ctnetlink.AttrHelp:
			h := s.Nested()
			for h.Next() {
				switch h.Type() {
				case ctnetlink.AttrHelpName:
					v.helper = h.Data()
					for i, c := range v.helper {
						if c == 0 {
							v.helper = v.helper[:i]
							break
						}
					}
				case ctnetlink.AttrHelpInfo:
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
