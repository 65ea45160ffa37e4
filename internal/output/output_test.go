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
