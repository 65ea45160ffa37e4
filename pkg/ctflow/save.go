package ctflow

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/expect"
)

// SaveVersion is the save-file format version this package writes and
// reads (docs/json.md, "ct save").
const SaveVersion = 1

// Save writes a save file: the conntracks that pass the filter, streamed
// one per line as they are dumped (memory stays flat), then, if exp is not
// nil, the expectations of the saved conntracks, read through exp (a
// second socket). Expectations are written in pkg/expect's own JSON form
// (the objects `expect list -o json` prints), so one schema describes
// both. It returns the counts written.
func Save(w io.Writer, cl *Client, f Filter, exp *expect.Client, now time.Time) (flows, expects int, err error) {
	sw := newSaveWriter(w, now)
	// Only conntracks with a helper can be masters of expectations.
	masters := map[ctnetlink.Tuple]struct{}{}
	err = cl.List(f, func(fl *Flow) error {
		if fl.Has(HasHelper) {
			masters[fl.Orig.WithoutZone()] = struct{}{}
		}
		return sw.flow(fl)
	})
	if err != nil {
		return sw.flows, 0, err
	}
	sw.startExpectations()
	if exp != nil && len(masters) > 0 {
		err = exp.Dump(expect.ListOptions{Family: f.family()}, func(e *expect.Expectation) error {
			if _, ok := masters[e.Master.WithoutZone()]; !ok {
				return nil
			}
			return sw.expectation(e)
		})
		if err != nil {
			return sw.flows, sw.expects, err
		}
	}
	return sw.flows, sw.expects, sw.close()
}

// SaveToFile is Save into the file at path, replaced atomically: the save
// goes to a temporary file in the same directory, synced, then renamed
// over path, so readers see the old file or the whole new one.
func SaveToFile(path string, cl *Client, f Filter, exp *expect.Client, now time.Time) (flows, expects int, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".gonfct-save-*")
	if err != nil {
		return 0, 0, fmt.Errorf("save to %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	defer tmp.Close()
	if flows, expects, err = Save(tmp, cl, f, exp, now); err != nil {
		return flows, expects, err
	}
	if err := tmp.Sync(); err != nil {
		return flows, expects, fmt.Errorf("save to %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return flows, expects, fmt.Errorf("save to %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return flows, expects, fmt.Errorf("save to %s: %w", path, err)
	}
	return flows, expects, nil
}

// saveWriter writes the save format: the header, conntracks one a line,
// then expectations one a line, then the end.
type saveWriter struct {
	w              *bufio.Writer
	line           []byte
	flows, expects int
}

func newSaveWriter(w io.Writer, now time.Time) *saveWriter {
	s := &saveWriter{w: bufio.NewWriterSize(w, 64*1024)}
	b := append(s.line[:0], `{"version":`...)
	b = strconv.AppendInt(b, SaveVersion, 10)
	b = append(b, `,"generator":"gonfct","created":"`...)
	b = now.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, "\",\n\"conntracks\":["...)
	s.w.Write(b) // a bufio.Writer keeps its first error for close
	s.line = b
	return s
}

func (s *saveWriter) entry(n int, appendEntry func([]byte) []byte) error {
	b := s.line[:0]
	if n > 0 {
		b = append(b, ',')
	}
	b = appendEntry(append(b, '\n'))
	s.line = b
	_, err := s.w.Write(b)
	return err
}

func (s *saveWriter) flow(f *Flow) error {
	err := s.entry(s.flows, f.AppendJSON)
	s.flows++
	return err
}

func (s *saveWriter) startExpectations() { s.w.WriteString("\n],\n\"expectations\":[") }

func (s *saveWriter) expectation(e *expect.Expectation) error {
	err := s.entry(s.expects, e.AppendJSON)
	s.expects++
	return err
}

func (s *saveWriter) close() error {
	s.w.WriteString("\n]}\n")
	return s.w.Flush()
}
