package ctflow

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/expect"
	"golang.org/x/sys/unix"
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
	masters := map[ctnetlink.Tuple]struct{}{}
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

// SaveFile is the header of a parsed save file.
type SaveFile struct {
	Version   int
	Generator string
	Created   string
}

// Entry is one conntrack of a save file, checked.
type Entry struct {
	Index int // position in "conntracks"
	Line  int // line the entry starts on
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
	if off < 0 {
		off = 0
	}
	before := data[:off]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// saveParser walks a save file with a streaming decoder, so memory holds
// the file and the checked entries, not a parsed copy of each.
type saveParser struct {
	data []byte
	dec  *json.Decoder
	// lineOff and line remember the last line lookup, so numbering every
	// entry costs one pass over the file, not one per entry.
	lineOff int64
	line    int
}

// lineAt is the 1-based line of offset off, which must not decrease
// between calls.
func (p *saveParser) lineAt(off int64) int {
	if off > int64(len(p.data)) {
		off = int64(len(p.data))
	}
	if off >= p.lineOff {
		p.line += bytes.Count(p.data[p.lineOff:off], []byte{'\n'})
		p.lineOff = off
	}
	return p.line
}

func (p *saveParser) fail(off int64, err error) *FormatError {
	l, c := position(p.data, off)
	return &FormatError{Line: l, Col: c, Err: err}
}

// wrap turns a decoder error into a FormatError at its position.
func (p *saveParser) wrap(err error) *FormatError {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return p.fail(se.Offset, fmt.Errorf("%v (corrupt JSON)", se))
	case errors.As(err, &te):
		return p.fail(te.Offset, te)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return p.fail(int64(len(p.data)), errors.New("file ends early (truncated?)"))
	}
	return p.fail(p.dec.InputOffset(), err)
}

func (p *saveParser) delim(want json.Delim) error {
	off := p.dec.InputOffset()
	tok, err := p.dec.Token()
	if err != nil {
		return p.wrap(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return p.fail(off, fmt.Errorf("want %q, found %v: not a gonfct ct save file", want, tok))
	}
	return nil
}

// array decodes each element of an array with fn, which gets the element's
// starting offset. fn returns a FormatError to stop, or nil.
func (p *saveParser) array(fn func(i int, off int64) error) error {
	if err := p.delim('['); err != nil {
		return err
	}
	for i := 0; p.dec.More(); i++ {
		if err := fn(i, p.dec.InputOffset()); err != nil {
			return err
		}
	}
	return p.delim(']')
}

// decodeEntry decodes one array element into v; a value of the wrong shape
// is the entry's error (returned as entryErr), broken JSON the file's.
func (p *saveParser) decodeEntry(v any) (entryErr, fileErr error) {
	err := p.dec.Decode(v)
	if err == nil {
		return nil, nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) || strings.HasPrefix(err.Error(), "json: unknown field") {
		return err, nil
	}
	return nil, p.wrap(err)
}

// ParseSaveFile reads a save file and checks every entry. A file that is
// not JSON, is truncated, or is not a version-1 save file is a
// *FormatError with the line and column; bad entries come back with Err
// set, for the caller to refuse or skip.
func ParseSaveFile(data []byte) (*SaveFile, []Entry, []ExpectEntry, error) {
	p := &saveParser{data: data, dec: json.NewDecoder(bytes.NewReader(data)), line: 1}
	p.dec.DisallowUnknownFields()
	var (
		sf                     SaveFile
		entries                []Entry
		exps                   []ExpectEntry
		haveVersion, haveFlows bool
	)
	if err := p.delim('{'); err != nil {
		return nil, nil, nil, err
	}
	for p.dec.More() {
		off := p.dec.InputOffset()
		tok, err := p.dec.Token()
		if err != nil {
			return nil, nil, nil, p.wrap(err)
		}
		key, _ := tok.(string)
		switch key {
		case "version":
			if err := p.dec.Decode(&sf.Version); err != nil {
				return nil, nil, nil, p.wrap(err)
			}
			haveVersion = true
			if sf.Version != SaveVersion {
				return nil, nil, nil, p.fail(off, fmt.Errorf("version %d: this gonfct reads version %d save files", sf.Version, SaveVersion))
			}
		case "generator":
			err = p.dec.Decode(&sf.Generator)
		case "created":
			err = p.dec.Decode(&sf.Created)
		case "conntracks":
			haveFlows = true
			// One entry a line, as Save writes: size the slice once.
			entries = make([]Entry, 0, bytes.Count(data, []byte{'\n'}))
			err = p.array(func(i int, off int64) error {
				var j FlowJSON
				e := Entry{Index: i}
				// off is where the previous element ended: the entry starts
				// after the comma and blanks.
				if i := bytes.IndexAny(data[off:], "{[\"0123456789tfn-"); i >= 0 {
					off += int64(i)
				}
				e.Line = p.lineAt(off)
				entryErr, fileErr := p.decodeEntry(&j)
				if fileErr != nil {
					return fileErr
				}
				if e.Err = entryErr; e.Err == nil {
					e.Flow, e.Err = j.Flow()
				}
				entries = append(entries, e)
				return nil
			})
		case "expectations":
			err = p.array(func(i int, off int64) error {
				var raw json.RawMessage
				if err := p.dec.Decode(&raw); err != nil {
					return p.wrap(err)
				}
				e := ExpectEntry{Index: i}
				e.Exp, e.Err = expect.ParseJSON(raw)
				exps = append(exps, e)
				return nil
			})
		default:
			return nil, nil, nil, p.fail(off, fmt.Errorf("unknown field %v", tok))
		}
		if err != nil {
			var fe *FormatError
			if errors.As(err, &fe) {
				return nil, nil, nil, fe
			}
			return nil, nil, nil, p.wrap(err)
		}
	}
	if err := p.delim('}'); err != nil {
		return nil, nil, nil, err
	}
	if _, err := p.dec.Token(); err != io.EOF {
		return nil, nil, nil, p.fail(p.dec.InputOffset(), errors.New("data after the end of the save file"))
	}
	if !haveVersion {
		return nil, nil, nil, &FormatError{Err: errors.New(`no "version": not a gonfct ct save file`)}
	}
	if !haveFlows {
		return nil, nil, nil, &FormatError{Err: errors.New(`no "conntracks" array: not a gonfct ct save file`)}
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
	// Warnings are entries applied in part (labels the kernel dropped).
	Warnings []Skip
}

// Add counts one outcome; err with Restored or Updated is a warning.
func (r *Report) Add(o Outcome, what string, err error) {
	if o != Skipped && err != nil {
		r.Warnings = append(r.Warnings, Skip{What: what, Reason: err.Error()})
	}
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
	if opts.DryRun {
		err := cl.Get(f.Orig, f.Zone, f.Has(HasZone), &cur)
		if errors.Is(err, ctnl.ErrNotFound) {
			plan("create")
			return Restored, nil
		}
		if err != nil {
			return Skipped, err
		}
	} else {
		err := cl.Create(f)
		if err == nil || errors.Is(err, ErrLabelsDropped) {
			plan("create")
			return Restored, err // a dropped label is a warning: the flow matters more
		}
		if !errors.Is(err, ctnl.ErrExists) {
			return Skipped, err
		}
		if err := cl.Get(f.Orig, f.Zone, f.Has(HasZone), &cur); err != nil {
			return Skipped, err
		}
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
	if !f.Has(HasHelperInfo) || f.infoLen == 0 {
		// Same helper, nothing to hand it: leave CTA_HELP out.
		u.Set &^= HasHelper | HasHelperInfo
	}
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
