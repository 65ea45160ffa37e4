package ctflow

import (
	"errors"
	"fmt"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/expect"
	"golang.org/x/sys/unix"
)

// Outcome is what restore did with one entry.
type Outcome int

// Outcomes.
const (
	Restored Outcome = iota // created
	Updated                 // existed: changed in place
	Skipped                 // not applied; see the reason
)

// Skip is an entry restore did not apply (or applied in part), and why.
type Skip struct {
	What string // "conntracks[3] tcp src=..."
	Err  error
}

// Report counts what a restore did.
type Report struct {
	Restored, Updated, Skipped int
	Skips                      []Skip
	// Warnings are entries applied in part (labels the kernel dropped).
	Warnings []Skip
}

// Add counts one outcome; err with Restored or Updated is a warning.
func (r *Report) Add(o Outcome, what string, err error) {
	if o != Skipped && err != nil {
		r.Warnings = append(r.Warnings, Skip{What: what, Err: err})
	}
	switch o {
	case Restored:
		r.Restored++
	case Updated:
		r.Updated++
	case Skipped:
		r.Skipped++
		if err == nil {
			err = errors.New("skipped")
		}
		r.Skips = append(r.Skips, Skip{What: what, Err: err})
	}
}

// RestoreOptions tune a restore.
type RestoreOptions struct {
	// DryRun checks what would happen (reading the table) and changes
	// nothing.
	DryRun bool
	// Replace deletes and re-creates an existing conntrack whose helper
	// differs from the saved one (the kernel never changes a helper in
	// place); without it such entries are skipped.
	Replace bool
	// Plan, if set, is told each action (dry run: what would be done).
	Plan func(action string, f *Flow)
	// PlanExpect, if set, is told of each expectation about to be restored.
	PlanExpect func(e *expect.Expectation)
}

// RestoreFlow applies one saved conntrack: create it, or, if a conntrack
// with its tuple exists, update it in place (idempotent). Creation is
// tried first, so a restore into an empty table costs one round trip per
// conntrack.
func (cl *Client) RestoreFlow(f *Flow, opts RestoreOptions) (Outcome, error) {
	plan := func(a string) {
		if opts.Plan != nil {
			opts.Plan(a, f)
		}
	}
	var cur Flow
	key := ctnetlink.Key{Tuple: f.Orig, Zone: f.Zone, HasZone: f.Has(HasZone)}
	if opts.DryRun {
		err := cl.Get(key, &cur)
		if errors.Is(err, ctnl.ErrNotFound) {
			plan("create")
			return Restored, nil
		}
		if err != nil {
			return Skipped, err
		}
	} else {
		err := cl.create(f)
		if err == nil || errors.Is(err, ErrLabelsDropped) {
			plan("create")
			return Restored, err // a dropped label is a warning: the flow matters more
		}
		if !errors.Is(err, ctnl.ErrExists) {
			return Skipped, err
		}
		if err := cl.Get(key, &cur); err != nil {
			return Skipped, err
		}
	}
	if f.Helper() != cur.Helper() {
		if !opts.Replace {
			return Skipped, &HelperConflictError{Current: cur.Helper(), Saved: f.Helper()}
		}
		plan("replace")
		if opts.DryRun {
			return Updated, nil
		}
		if err := cl.Delete(ctnetlink.Key{Tuple: cur.Orig, Zone: cur.Zone, HasZone: cur.Has(HasZone), ID: cur.ID}); err != nil && !errors.Is(err, ctnl.ErrNotFound) {
			return Skipped, err
		}
		if err := cl.create(f); err != nil {
			return Skipped, err
		}
		return Updated, nil
	}
	plan("update")
	if opts.DryRun {
		return Updated, nil
	}
	u := *f
	u.Set &^= HasMaster
	if !f.Has(HasHelperInfo) || f.infoLen == 0 {
		// Same helper, nothing to hand it: leave CTA_HELP out.
		u.Set &^= HasHelper | HasHelperInfo
	}
	_ = merge(&u, &cur) // the helper is named, so this cannot fail
	err := cl.Update(&u, 0)
	if errors.Is(err, unix.ENOSPC) && u.Has(HasLabels) {
		// No label extension on this conntrack: keep the rest.
		u.Set &^= HasLabels
		if err := cl.Update(&u, 0); err != nil {
			return Skipped, err
		}
		return Updated, &ctnl.Error{Op: "update conntrack " + f.Orig.String(), Err: ErrLabelsDropped, Hint: HintLabels}
	}
	if err != nil {
		return Skipped, err
	}
	return Updated, nil
}

// HelperConflictError: a conntrack exists with another helper than the
// saved one, and the kernel sets a helper only at creation
// (RestoreOptions.Replace deletes and re-creates it).
type HelperConflictError struct {
	Current, Saved string
}

func (e *HelperConflictError) Error() string {
	return fmt.Sprintf("exists with helper %q, saved with %q: the kernel sets a helper only at creation", e.Current, e.Saved)
}

// Describe names an entry in reports: "conntracks[3] tcp src=... dst=...".
func Describe(kind string, i int, f *Flow) string {
	s := fmt.Sprintf("%s[%d]", kind, i)
	if f != nil && f.Orig.Src.IsValid() {
		s += " " + f.Orig.String()
	}
	return s
}

// Restore applies a parsed save file: conntracks without a master first,
// then expected conntracks (their masters must exist), then expectations
// (in the zone of their saved master). Invalid entries must have been
// dealt with by the caller: they are counted as skipped here. Single
// failures do not stop it; the report says what happened to each entry.
func Restore(cl *Client, entries []Entry, exps []ExpectEntry, opts RestoreOptions) *Report {
	r := &Report{}
	zones := map[ctnetlink.Tuple]uint16{}
	for _, e := range entries {
		if e.Err != nil {
			r.Add(Skipped, fmt.Sprintf("conntracks[%d]", e.Index), fmt.Errorf("invalid: %w", e.Err))
			continue
		}
		if e.Flow.Has(HasZone) {
			zones[e.Flow.Orig.WithoutZone()] = e.Flow.Zone
		}
	}
	for pass := 0; pass < 2; pass++ {
		for i := range entries {
			e := &entries[i]
			if e.Err != nil || e.Flow.Has(HasMaster) != (pass == 1) {
				continue
			}
			o, err := cl.RestoreFlow(&e.Flow, opts)
			r.Add(o, Describe("conntracks", e.Index, &e.Flow), err)
		}
	}
	ec := expect.NewClient(cl.c)
	for i := range exps {
		e := &exps[i]
		what := fmt.Sprintf("expectations[%d]", e.Index)
		if e.Err != nil {
			r.Add(Skipped, what, fmt.Errorf("invalid: %w", e.Err))
			continue
		}
		what += " " + e.Exp.Tuple.String()
		if z, ok := zones[e.Exp.Master.WithoutZone()]; ok && !e.Exp.HasZone {
			e.Exp.Zone, e.Exp.HasZone = z, true
		}
		if opts.PlanExpect != nil {
			opts.PlanExpect(&e.Exp)
		}
		o, err := RestoreExpectation(ec, &e.Exp, opts.DryRun)
		r.Add(o, what, err)
	}
	return r
}

// RestoreExpectation creates a saved expectation, or, if one with its
// tuple exists, sets its timeout (the kernel changes nothing else in
// place). The kernel takes the timeout of a new expectation from the
// master helper's policy, so a saved timeout is applied by an update right
// after the creation.
func RestoreExpectation(c *expect.Client, e *expect.Expectation, dryRun bool) (Outcome, error) {
	var cur expect.Expectation
	err := c.Get(ctnetlink.Key{Tuple: e.Tuple, Zone: e.Zone, HasZone: e.HasZone}, &cur)
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
		if err := c.Create(e); err != nil {
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
	if err := c.SetTimeout(e); err != nil {
		return Skipped, err
	}
	return outcome, nil
}
