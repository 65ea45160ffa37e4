package ctflow

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/expect"
)

// SaveVersion is the save-file format version this package writes and
// reads (docs/json.md, "ct save").
const SaveVersion = 1

// Save writes a save file: the conntracks that pass the filter, streamed
// one per line as they are dumped (memory stays flat), then, if exp is not
// nil, the expectations of the saved conntracks, read through exp (a
// second socket). It returns the counts written.
func Save(w io.Writer, cl *Client, f *Filter, exp *ctnl.Conn, now time.Time) (flows, expects int, err error) {
	if f == nil {
		f = &Filter{}
	}
	bw := bufio.NewWriterSize(w, 64*1024)
	fmt.Fprintf(bw, "{\"version\":%d,\"generator\":\"gonfct\",\"created\":%q,\n\"conntracks\":[", SaveVersion, now.UTC().Format(time.RFC3339))
	// Only conntracks with a helper can be masters of expectations.
	masters := map[ctnl.Tuple]struct{}{}
	var line []byte
	err = cl.List(f, func(fl *Flow) error {
		b, err := json.Marshal(fl.JSON())
		if err != nil {
			return err
		}
		line = line[:0]
		if flows > 0 {
			line = append(line, ',')
		}
		line = append(line, '\n')
		line = append(line, b...)
		flows++
		if fl.Has(HasHelper) {
			masters[masterKey(fl.Orig)] = struct{}{}
		}
		_, err = bw.Write(line)
		return err
	})
	if err != nil {
		return flows, 0, err
	}
	bw.WriteString("\n],\n\"expectations\":[")
	if exp != nil && len(masters) > 0 {
		err = saveExpectations(exp, f.family(), masters, func(b []byte) error {
			if expects > 0 {
				bw.WriteByte(',')
			}
			bw.WriteByte('\n')
			expects++
			_, err := bw.Write(b)
			return err
		})
		if err != nil {
			return flows, expects, err
		}
	}
	bw.WriteString("\n]}\n")
	return flows, expects, bw.Flush()
}

// SaveFile is a parsed save file.
type SaveFile struct {
	Version      int               `json:"version"`
	Generator    string            `json:"generator,omitempty"`
	Created      string            `json:"created,omitempty"`
	Conntracks   []json.RawMessage `json:"conntracks"`
	Expectations []json.RawMessage `json:"expectations"`
}

// Entry is one conntrack of a save file, checked.
type Entry struct {
	Index int // position in "conntracks"
	Flow  Flow
	Err   error // why the entry is invalid; nil if valid
}

// FormatError is a save file that is not valid JSON or not a save file.
type FormatError struct {
	Line, Col int // 1-based position of the error, 0 if unknown
	Err       error
}

func (e *FormatError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("save file line %d column %d: %v", e.Line, e.Col, e.Err)
	}
	return "save file: " + e.Err.Error()
}

func (e *FormatError) Unwrap() error { return e.Err }

func position(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// ParseSaveFile reads a save file and checks every entry. A file
// that is not JSON, is truncated, or is not a version-1 save file is a
// *FormatError with the line and column; bad entries come back with Err
// set, for the caller to refuse or skip.
func ParseSaveFile(data []byte) (*SaveFile, []Entry, []ExpectEntry, error) {
	var sf SaveFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sf); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			l, c := position(data, se.Offset)
			return nil, nil, nil, &FormatError{Line: l, Col: c, Err: fmt.Errorf("%v (corrupt JSON)", se)}
		case errors.As(err, &te):
			l, c := position(data, te.Offset)
			return nil, nil, nil, &FormatError{Line: l, Col: c, Err: fmt.Errorf("%v", te)}
		case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
			l, c := position(data, int64(len(data)))
			return nil, nil, nil, &FormatError{Line: l, Col: c, Err: errors.New("file ends early (truncated?)")}
		}
		return nil, nil, nil, &FormatError{Err: err}
	}
	if dec.More() {
		l, c := position(data, dec.InputOffset())
		return nil, nil, nil, &FormatError{Line: l, Col: c, Err: errors.New("data after the end of the save file")}
	}
	if sf.Version != SaveVersion {
		return nil, nil, nil, &FormatError{Err: fmt.Errorf("version %d: this gonfct reads version %d save files (is this a `gonfct ct save` file?)", sf.Version, SaveVersion)}
	}
	if sf.Conntracks == nil {
		return nil, nil, nil, &FormatError{Err: errors.New(`no "conntracks" array: not a gonfct ct save file`)}
	}
	entries := make([]Entry, len(sf.Conntracks))
	for i, raw := range sf.Conntracks {
		entries[i].Index = i
		var j FlowJSON
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		if err := d.Decode(&j); err != nil {
			entries[i].Err = err
			continue
		}
		entries[i].Flow, entries[i].Err = j.Flow()
	}
	exps := make([]ExpectEntry, len(sf.Expectations))
	for i, raw := range sf.Expectations {
		exps[i].Index = i
		exps[i].Exp, exps[i].Err = parseExpectation(raw)
	}
	return &sf, entries, exps, nil
}

// Outcome is what restore did with one entry.
type Outcome int

// Outcomes.
const (
	Restored Outcome = iota // created
	Updated                 // existed: changed in place
	Skipped                 // not applied; see the reason
)

// Skip is an entry restore did not apply, and why.
type Skip struct {
	What   string // "conntracks[3] tcp src=..."
	Reason string
}

// Report counts what a restore did.
type Report struct {
	Restored, Updated, Skipped int
	Skips                      []Skip
}

// Add counts one outcome.
func (r *Report) Add(o Outcome, what string, err error) {
	switch o {
	case Restored:
		r.Restored++
	case Updated:
		r.Updated++
	case Skipped:
		r.Skipped++
		reason := "skipped"
		if err != nil {
			reason = err.Error()
		}
		r.Skips = append(r.Skips, Skip{What: what, Reason: reason})
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
// with its tuple exists, update it in place (idempotent).
func (cl *Client) RestoreFlow(f *Flow, opts RestoreOptions) (Outcome, error) {
	var cur Flow
	err := cl.Get(f.Orig, f.Zone, f.Has(HasZone), &cur)
	exists := err == nil
	if err != nil && !errors.Is(err, ctnl.ErrNotFound) {
		return Skipped, err
	}
	plan := func(a string) {
		if opts.Plan != nil {
			opts.Plan(a, f)
		}
	}
	if !exists {
		plan("create")
		if opts.DryRun {
			return Restored, nil
		}
		if err := cl.Create(f); err != nil {
			if errors.Is(err, ctnl.ErrExists) { // raced with traffic: update instead
				return cl.RestoreFlow(f, opts)
			}
			return Skipped, err
		}
		return Restored, nil
	}
	if f.Helper() != cur.Helper() {
		if !opts.Replace {
			return Skipped, fmt.Errorf("exists with helper %q, saved with %q: the kernel sets a helper only at creation (use --replace to delete and re-create it)", cur.Helper(), f.Helper())
		}
		plan("replace")
		if opts.DryRun {
			return Updated, nil
		}
		if err := cl.Delete(cur.Orig, cur.Zone, cur.Has(HasZone), cur.ID); err != nil && !errors.Is(err, ctnl.ErrNotFound) {
			return Skipped, err
		}
		if err := cl.Create(f); err != nil {
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
	u.Status = cur.Status | f.Status&Settable
	if !f.Has(HasHelperInfo) || len(f.HelperInfo()) == 0 {
		// Same helper, nothing to hand it: leave CTA_HELP out.
		u.Set &^= HasHelper | HasHelperInfo
	}
	if err := cl.Update(&u, 0); err != nil {
		return Skipped, err
	}
	return Updated, nil
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
	zones := map[ctnl.Tuple]uint16{}
	for _, e := range entries {
		if e.Err != nil {
			r.Add(Skipped, fmt.Sprintf("conntracks[%d]", e.Index), fmt.Errorf("invalid: %w", e.Err))
			continue
		}
		if e.Flow.Has(HasZone) {
			zones[masterKey(e.Flow.Orig)] = e.Flow.Zone
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
	for i := range exps {
		e := &exps[i]
		what := fmt.Sprintf("expectations[%d]", e.Index)
		if e.Err != nil {
			r.Add(Skipped, what, fmt.Errorf("invalid: %w", e.Err))
			continue
		}
		what += " " + e.Exp.Tuple.String()
		if z, ok := zones[masterKey(e.Exp.Master)]; ok && !e.Exp.HasZone {
			e.Exp.Zone, e.Exp.HasZone = z, true
		}
		if opts.PlanExpect != nil {
			opts.PlanExpect(&e.Exp)
		}
		o, err := RestoreExpectation(cl.c, &e.Exp, opts.DryRun)
		r.Add(o, what, err)
	}
	return r
}
