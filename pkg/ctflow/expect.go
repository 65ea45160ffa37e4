package ctflow

import (
	"errors"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/expect"
)

// Expectations in a save file are written with pkg/expect's own JSON form
// (Expectation.AppendJSON, the objects `gonfct expect list -o json`
// prints), so one schema describes both; expect.ParseJSON reads it back.

// ExpectEntry is one expectation of a save file, checked.
type ExpectEntry struct {
	Index int
	Exp   expect.Expectation
	Err   error
}

// masterKey is a conntrack's original tuple without its zone: expectation
// dumps carry masters without zones.
func masterKey(t ctnetlink.Tuple) ctnetlink.Tuple {
	t.Zone, t.HasZone = 0, false
	return t
}

// saveExpectations writes the expectations whose master is among the saved
// conntracks (masters: the saved conntracks with a helper).
func saveExpectations(c *ctnl.Conn, family uint8, masters map[ctnetlink.Tuple]struct{}, emit func([]byte) error) error {
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
	if err := expect.SetTimeout(c, e); err != nil {
		return Skipped, err
	}
	return outcome, nil
}
