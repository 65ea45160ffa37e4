package ctflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gonfct/gonfct/pkg/expect"
)

// SaveFile is the header of a parsed save file.
type SaveFile struct {
	Version   int
	Generator string
	Created   string
}

// ExpectEntry is one expectation of a save file, checked
// (expect.ParseJSON reads it).
type ExpectEntry struct {
	Index int
	Exp   expect.Expectation
	Err   error
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
