// Package output prints what gonfct commands produce, in the format the
// user chose once with -o: text (the anchor tool's own format where one
// exists, so scripts that parse nfct or conntrack keep working), table (for
// people, via tablewriter) or json (stable, for scripts). Commands hand it
// records; they never format for a particular -o themselves.
package output

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/pkg/twwidth"
	"github.com/olekukonko/tablewriter/tw"
)

// Format is an output format name.
type Format string

// The formats every listing command offers.
const (
	Text  Format = "text"
	Table Format = "table"
	JSON  Format = "json"
)

// Nfct is nfct's own block format, byte for byte, which the helper and
// timeout commands add for scripts that parse nfct's output (records
// print it through OtherFormatter).
const Nfct Format = "nfct"

// Formats are the formats every command offers; a command may add its own
// (timeout's "nfct").
var Formats = []Format{Text, Table, JSON}

// ParseFormat checks a -o value against the formats a command offers.
func ParseFormat(s string, extra ...Format) (Format, error) {
	f := Format(strings.ToLower(s))
	all := append(slices.Clone(Formats), extra...)
	if slices.Contains(all, f) {
		return f, nil
	}
	names := make([]string, len(all))
	for i, a := range all {
		names[i] = string(a)
	}
	return "", fmt.Errorf("unknown output format %q: want one of %s", s, strings.Join(names, ", "))
}

// Document returns w for output that has one form only, such as a
// ruleset or a shell script, printed as it is: the chosen format s must be
// text (or none). what says what the command prints, for the error.
func Document(w io.Writer, s, what string) (io.Writer, error) {
	if s != "" && Format(strings.ToLower(s)) != Text {
		return nil, fmt.Errorf("%s; -o %s does not apply", what, s)
	}
	return w, nil
}

// Record is one thing a command prints.
type Record interface {
	// AppendText appends the text form, newline included.
	AppendText(b []byte) []byte
	// Row is the record's cells for the table format.
	Row() []string
}

// JSONAppender is a record that writes its own JSON object (compact, by
// hand): the writer uses it as it is instead of marshalling the record,
// which for a Marshaler would parse and compact the bytes once more.
type JSONAppender interface {
	AppendJSON(b []byte) []byte
}

// OtherFormatter is a record that also prints in a command's own format.
type OtherFormatter interface {
	AppendFormat(f Format, b []byte) []byte
}

// Mode says how many records a Writer prints and so how JSON is framed.
type Mode int

const (
	// List: any number of records; JSON is one array.
	List Mode = iota
	// Single: one record; JSON is one object.
	Single
	// Stream: records as they happen (watch); JSON is one object a line.
	Stream
)

// Writer prints records in one format. It buffers, so call Close (or Flush
// for streams) to see the output.
type Writer struct {
	f       Format
	mode    Mode
	w       *bufio.Writer
	buf     []byte
	n       int
	enc     *json.Encoder
	columns []string
	rows    [][]string
	stream  *tablewriter.Table // a long table, printed as it comes
}

// tableProbeRows is how many rows a listing's table holds before it
// streams: the column widths come from them, and a later cell that does not
// fit wraps inside its column (marked ↩) instead of widening it. A table of
// up to that many rows is rendered whole, fitted to every cell. Streaming
// keeps ct list -o table at a flat memory use however large the table
// (holding 100k rows took about 190 MiB).
var tableProbeRows = 1000

// NewWriter returns a writer in format f; columns head the table format.
func NewWriter(w io.Writer, f Format, mode Mode, columns ...string) *Writer {
	bw := bufio.NewWriterSize(w, 64*1024)
	out := &Writer{f: f, mode: mode, w: bw, columns: columns}
	if f == JSON {
		out.enc = json.NewEncoder(bw)
		if mode == Single {
			out.enc.SetIndent("", "  ")
		}
	}
	return out
}

// Format is the writer's format.
func (w *Writer) Format() Format { return w.f }

// Write prints one record.
func (w *Writer) Write(r Record) error {
	defer func() { w.n++ }()
	switch w.f {
	case Text:
		w.buf = r.AppendText(w.buf[:0])
		_, err := w.w.Write(w.buf)
		return err
	case Table:
		if w.stream != nil {
			return w.stream.Append(r.Row())
		}
		w.rows = append(w.rows, r.Row())
		if w.mode == List && len(w.rows) >= tableProbeRows {
			return w.startTableStream()
		}
		return nil
	case JSON:
		if w.mode == List {
			sep := ",\n"
			if w.n == 0 {
				sep = "[\n"
			}
			if _, err := w.w.WriteString(sep); err != nil {
				return err
			}
		}
		ja, ok := r.(JSONAppender)
		if !ok {
			if w.mode == List {
				b, err := json.Marshal(r)
				if err != nil {
					return err
				}
				_, err = w.w.Write(b)
				return err
			}
			return w.enc.Encode(r)
		}
		w.buf = ja.AppendJSON(w.buf[:0])
		switch w.mode {
		case Single:
			var ind bytes.Buffer
			if err := json.Indent(&ind, w.buf, "", "  "); err != nil {
				return err
			}
			ind.WriteByte('\n')
			_, err := w.w.Write(ind.Bytes())
			return err
		case Stream:
			w.buf = append(w.buf, '\n')
		}
		_, err := w.w.Write(w.buf)
		return err
	}
	of, ok := r.(OtherFormatter)
	if !ok {
		return fmt.Errorf("format %q is not offered here", w.f)
	}
	w.buf = of.AppendFormat(w.f, w.buf[:0])
	_, err := w.w.Write(w.buf)
	return err
}

// Count is the number of records written.
func (w *Writer) Count() int { return w.n }

// Flush pushes out what is buffered (streams call it after each event).
func (w *Writer) Flush() error {
	if w.f == Table && w.mode == Stream && len(w.rows) > 0 {
		if err := w.renderTable(); err != nil {
			return err
		}
		w.rows = w.rows[:0]
	}
	return w.w.Flush()
}

// Close finishes the output: renders the table, closes the JSON array.
func (w *Writer) Close() error {
	switch w.f {
	case Table:
		if w.stream != nil {
			if err := w.stream.Close(); err != nil {
				return err
			}
		} else if len(w.rows) > 0 || w.mode != Stream {
			if err := w.renderTable(); err != nil {
				return err
			}
		}
	case JSON:
		if w.mode == List {
			end := "\n]\n"
			if w.n == 0 {
				end = "[]\n"
			}
			if _, err := w.w.WriteString(end); err != nil {
				return err
			}
		}
	}
	return w.w.Flush()
}

// tableOptions are the table format's looks, streamed or not.
func tableOptions() []tablewriter.Option {
	return []tablewriter.Option{
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
	}
}

// startTableStream prints the held rows as the start of a streamed table
// whose columns are as wide as the header and those rows need, and lets
// them go.
func (w *Writer) startTableStream() error {
	widths := tw.NewMapper[int, int]()
	for i, h := range w.columns {
		n := twwidth.Width(h)
		for _, r := range w.rows {
			if i < len(r) {
				n = max(n, twwidth.Width(r[i]))
			}
		}
		widths.Set(i, n+2) // tablewriter's widths include the padding
	}
	t := tablewriter.NewTable(w.w, append(tableOptions(),
		tablewriter.WithStreaming(tw.StreamConfig{Enable: true}),
		tablewriter.WithColumnWidths(widths),
		tablewriter.WithRowAutoWrap(tw.WrapBreak))...)
	if err := t.Start(); err != nil {
		return err
	}
	t.Header(w.columns)
	for _, r := range w.rows {
		if err := t.Append(r); err != nil {
			return err
		}
	}
	w.stream, w.rows = t, nil
	return nil
}

func (w *Writer) renderTable() error {
	t := tablewriter.NewTable(w.w, tableOptions()...)
	t.Header(w.columns)
	for _, r := range w.rows {
		if err := t.Append(r); err != nil {
			return err
		}
	}
	return t.Render()
}
