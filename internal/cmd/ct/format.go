package ct

import (
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/output"
	"github.com/gonfct/gonfct/pkg/ctflow"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
)

// textWords are conntrack -o's words, which ct takes besides text, table
// and json: variants of the text line, combined with commas.
var textWords = []string{"extended", "id", "ktimestamp", "labels", "timestamp", "userspace", "save"}

// textFormat reads -o for a ct command. conntrack's words (textWords)
// mean -o text with their additions; the env returned then says text. save
// stands alone, as in conntrack; timestamp is for events (a listing
// ignores it, as conntrack does); userspace is what gonfct's events always
// show. events: the command prints events (watch).
func textFormat(env *cli.Env, events bool) (*cli.Env, *textOut, error) {
	words := strings.Split(strings.ToLower(env.Output), ",")
	if len(words) == 1 && !slices.Contains(textWords, words[0]) {
		return env, &textOut{}, nil // text, table, json: checked by the writer
	}
	o := &textOut{}
	for _, w := range words {
		switch w {
		case "extended":
			o.Extended = true
		case "id":
			o.ID = true
		case "ktimestamp":
			o.KTimestamp = true
		case "labels":
			o.Labels = true
		case "timestamp":
			o.Timestamp = events
		case "userspace":
		case "save":
			if len(words) > 1 {
				return nil, nil, cli.Usagef("-o save stands alone: it prints conntrack options, with nothing to add")
			}
			if events {
				return nil, nil, cli.Usagef("-o save is for listings (ct list, ct get): events print as text or json")
			}
			o.save = true
		default:
			return nil, nil, cli.Usagef("-o %q: %q is not a format; want text, table, json, or conntrack's %s, comma-separated",
				env.Output, w, strings.Join(textWords, ", "))
		}
	}
	if o.Labels {
		if err := o.showLabels(); err != nil {
			return nil, nil, err
		}
	}
	e := *env
	e.Output = string(output.Text)
	return &e, o, nil
}

// textOut is how ct prints its text lines: conntrack's -o additions, or
// save lines.
type textOut struct {
	ctflow.TextOptions
	save bool
}

// showLabels turns on labels= with the names of connlabel.conf.
func (o *textOut) showLabels() error {
	o.Labels = true
	b, err := os.ReadFile(ctflow.ConnlabelConf)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	o.LabelNames = map[int]string{}
	for name, bit := range ctflow.ParseConnlabels(string(b)) {
		o.LabelNames[bit] = name
	}
	return nil
}

// labelFilter: conntrack shows the labels of what a label filter selects,
// -o labels or not.
func (o *textOut) labelFilter(f *ctflow.Filter) error {
	if f.Labels == [ctflow.LabelsLen]byte{} || o.Labels {
		return nil
	}
	return o.showLabels()
}

// flowRecord prints a flow through internal/output with the -o additions.
type flowRecord struct {
	f *ctflow.Flow
	o *textOut
}

func (r *flowRecord) AppendText(b []byte) []byte {
	if r.o.save {
		return r.f.AppendSave(b)
	}
	return r.f.AppendTextWith(b, &r.o.TextOptions)
}

func (r *flowRecord) Row() []string              { return r.f.Row() }
func (r *flowRecord) AppendJSON(b []byte) []byte { return r.f.AppendJSON(b) }

// appendEvent is an event's text line with the -o additions.
func (o *textOut) appendEvent(b []byte, f *ctflow.Flow, t ctnetlink.EventType, resync bool) []byte {
	return f.AppendEventWith(b, t, resync, &o.TextOptions)
}
