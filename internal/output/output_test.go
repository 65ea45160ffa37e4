package output

import (
	"bytes"
	"strings"
	"testing"
)

type rec struct {
	Name  string `json:"name"`
	Queue int    `json:"queue"`
}

func (r rec) AppendText(b []byte) []byte { return append(b, r.Name+"\n"...) }
func (r rec) Row() []string              { return []string{r.Name, "q"} }

func TestWriterFormats(t *testing.T) {
	recs := []rec{{"ftp", 1}, {"rpc", 2}}
	tests := []struct {
		f    Format
		mode Mode
		n    int
		want string
	}{
		{Text, List, 2, "ftp\nrpc\n"},
		{JSON, List, 2, "[\n{\"name\":\"ftp\",\"queue\":1},\n{\"name\":\"rpc\",\"queue\":2}\n]\n"},
		{JSON, List, 0, "[]\n"},
		{JSON, Stream, 2, "{\"name\":\"ftp\",\"queue\":1}\n{\"name\":\"rpc\",\"queue\":2}\n"},
		{JSON, Single, 1, "{\n  \"name\": \"ftp\",\n  \"queue\": 1\n}\n"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		w := NewWriter(&buf, tt.f, tt.mode, "NAME", "QUEUE")
		for _, r := range recs[:tt.n] {
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if buf.String() != tt.want {
			t.Errorf("%s/%d: got %q, want %q", tt.f, tt.mode, buf.String(), tt.want)
		}
	}
}

func TestTable(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, Table, List, "NAME", "QUEUE")
	_ = w.Write(rec{"ftp", 1})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "NAME") || !strings.Contains(out, "ftp") {
		t.Fatalf("table lacks header or row:\n%s", out)
	}
}

func TestParseFormat(t *testing.T) {
	if f, err := ParseFormat("JSON"); err != nil || f != JSON {
		t.Fatalf("ParseFormat(JSON) = %q, %v", f, err)
	}
	if _, err := ParseFormat("xml"); err == nil || !strings.Contains(err.Error(), "text, table, json") {
		t.Fatalf("ParseFormat(xml) error = %v", err)
	}
	if f, err := ParseFormat("nfct", "nfct"); err != nil || f != "nfct" {
		t.Fatalf("extra format refused: %v", err)
	}
}

// appender writes its own JSON; the writer takes it as it is.
type appender struct{ rec }

func (a appender) AppendJSON(b []byte) []byte {
	return append(b, `{"name":"`+a.Name+`","hand":true}`...)
}

func TestJSONAppender(t *testing.T) {
	for _, tt := range []struct {
		mode Mode
		want string
	}{
		{List, "[\n{\"name\":\"ftp\",\"hand\":true},\n{\"name\":\"rpc\",\"hand\":true}\n]\n"},
		{Stream, "{\"name\":\"ftp\",\"hand\":true}\n{\"name\":\"rpc\",\"hand\":true}\n"},
		{Single, "{\n  \"name\": \"ftp\",\n  \"hand\": true\n}\n"},
	} {
		var buf bytes.Buffer
		w := NewWriter(&buf, JSON, tt.mode)
		n := 2
		if tt.mode == Single {
			n = 1
		}
		for _, r := range []appender{{rec{"ftp", 1}}, {rec{"rpc", 2}}}[:n] {
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if buf.String() != tt.want {
			t.Errorf("mode %d: got %q, want %q", tt.mode, buf.String(), tt.want)
		}
	}
}

type cells []string

func (c cells) AppendText(b []byte) []byte { return append(b, strings.Join(c, " ")+"\n"...) }
func (c cells) Row() []string              { return c }

// A listing longer than the probe streams: the rows seen so far set the
// widths and are not held any more; a later, longer cell wraps in its
// column. Up to the probe, the table is the whole-table rendering.
func TestTableStreamsLongListings(t *testing.T) {
	defer func(n int) { tableProbeRows = n }(tableProbeRows)
	tableProbeRows = 3
	rows := []cells{{"tcp", "10.0.0.1:21"}, {"udp", "fd00::1:53"}, {"icmp", "1.2.3.4"}}

	var whole bytes.Buffer
	w := NewWriter(&whole, Table, List, "PROTO", "SRC")
	for _, r := range rows[:2] {
		_ = w.Write(r)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.stream != nil {
		t.Fatal("a table shorter than the probe streamed")
	}

	var streamed bytes.Buffer
	w = NewWriter(&streamed, Table, List, "PROTO", "SRC")
	for _, r := range append(rows, cells{"tcp", "192.168.100.100:65535"}) {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
		if w.stream != nil && w.rows != nil {
			t.Fatal("a streamed table still holds its rows")
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := `┌───────┬─────────────┐
│ PROTO │ SRC         │
├───────┼─────────────┤
│ tcp   │ 10.0.0.1:21 │
│ udp   │ fd00::1:53  │
│ icmp  │ 1.2.3.4     │
│ tcp   │ 192.168.10↩ │
│       │ 0.100:65535 │
└───────┴─────────────┘
`
	if streamed.String() != want {
		t.Fatalf("streamed table:\n%s\nwant:\n%s", streamed.String(), want)
	}
	if !strings.HasPrefix(streamed.String(), strings.Join(strings.SplitAfter(whole.String(), "\n")[:5], "")) {
		t.Fatalf("the streamed table's start differs from the whole table's:\n%s\n%s", streamed.String(), whole.String())
	}
}
