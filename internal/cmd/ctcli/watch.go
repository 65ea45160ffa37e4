package ctcli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/output"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/cttimeout"
	"github.com/spf13/pflag"
)

// WatchFlags are the flags of `ct watch` and `expect watch`, as typed.
type WatchFlags struct {
	events     string
	count      int
	timeout    string
	bufferSize string
	noResync   bool
}

// Add registers -e/--event-mask (for the event types the table has),
// -c/--count, --timeout, -b/--buffer-size and --no-resync.
func (f *WatchFlags) Add(fs *pflag.FlagSet, types ...ctnetlink.EventType) {
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = t.String()
	}
	fs.StringVarP(&f.events, "event-mask", "e", "all", "event types to show: "+strings.Join(names, ", ")+" or all (comma-separated)")
	fs.IntVarP(&f.count, "count", "c", 0, "stop after this many events (0: no limit; events a resync made up do not count)")
	fs.StringVar(&f.timeout, "timeout", "0", "stop after this long: seconds, or 30s, 5m, 1h (0: no limit)")
	fs.StringVarP(&f.bufferSize, "buffer-size", "b", strconv.Itoa(ctnetlink.DefaultBufferSize>>20)+"M",
		"socket receive buffer: bytes, or with K, M, G (SO_RCVBUFFORCE; a limit, not memory taken up front)")
	fs.BoolVar(&f.noResync, "no-resync", false, "after lost events, only report how many (no dump)")
}

// AddEventAlias registers a hidden second name for --event-mask (ct
// watch's --event from before the groups shared their flags).
func (f *WatchFlags) AddEventAlias(fs *pflag.FlagSet, name string) {
	fs.StringVar(&f.events, name, "all", "")
	_ = fs.MarkHidden(name)
}

// Watch is a checked WatchFlags.
type Watch struct {
	Events     []ctnetlink.EventType
	Count      int
	Timeout    time.Duration
	BufferSize int
	Resync     bool
}

// Parse checks the flags against the event types the table has, and -o
// (format): a watch prints text or JSON lines as the events come; a table
// would be redrawn with its header for every batch.
func (f *WatchFlags) Parse(format string, types ...ctnetlink.EventType) (Watch, error) {
	w := Watch{Count: f.count, Resync: !f.noResync}
	if strings.EqualFold(format, string(output.Table)) {
		return w, cli.Usagef("watch prints -o text or -o json")
	}
	var err error
	if w.Events, err = ctnetlink.ParseEventTypes(f.events, types...); err != nil {
		return w, cli.Usagef("-e: %v", err)
	}
	if w.Count < 0 {
		return w, cli.Usagef("--count %d: want a number of events (0: no limit)", w.Count)
	}
	secs, err := cli.ParseSeconds("--timeout", f.timeout, 0, cttimeout.MaxSeconds)
	if err != nil {
		return w, err
	}
	w.Timeout = time.Duration(secs) * time.Second
	if w.BufferSize, err = ParseSize(f.bufferSize); err != nil {
		return w, err
	}
	return w, nil
}

// ParseSize reads --buffer-size: a byte count with an optional K, M or G.
func ParseSize(s string) (int, error) {
	t := strings.ToUpper(strings.TrimSuffix(strings.TrimSuffix(s, "B"), "i"))
	mult := 1
	switch {
	case strings.HasSuffix(t, "K"):
		mult, t = 1<<10, t[:len(t)-1]
	case strings.HasSuffix(t, "M"):
		mult, t = 1<<20, t[:len(t)-1]
	case strings.HasSuffix(t, "G"):
		mult, t = 1<<30, t[:len(t)-1]
	}
	n, err := strconv.ParseUint(t, 10, 31)
	if err != nil || n == 0 || n*uint64(mult) > 1<<30 {
		return 0, cli.Usagef("--buffer-size %q: want a size from 1 byte to 1G, such as 32M", s)
	}
	return int(n) * mult, nil
}

// Watcher is what ctflow's and expect's watchers offer the loop.
type Watcher interface {
	Buffer() (granted int, forced bool)
	Pending() bool
}

// OnLoss reports lost events on stderr, in the words of both groups;
// table is "conntrack" or "expectation". It flushes w first, so the
// report follows the events before it.
func (s *Watch) OnLoss(env *cli.Env, w *output.Writer, table string) func(ctnetlink.Loss) {
	return func(l ctnetlink.Loss) {
		_ = w.Flush()
		what := "not resynchronised (--no-resync)"
		if l.Resynced {
			what = fmt.Sprintf("resynchronised from a dump: %d resync events", l.Reported)
		} else if s.Resync {
			what = "the watch ended before a resync"
		}
		fmt.Fprintf(env.Err, "gonfct: lost %d %s events (socket receive buffer full; a larger --buffer-size helps); %s\n", l.Dropped, table, what)
	}
}

// Run runs a watch until SIGINT, SIGTERM, --timeout or --count: run reads
// the events and hands each to emit as a record with its resync mark.
// Records go out through w, flushed whenever the watcher has caught up.
// What it says on stderr: a receive buffer capped by rmem_max, and at the
// end the count line ("N flow events have been shown."), unless quiet.
func (s *Watch) Run(env *cli.Env, w *output.Writer, wt Watcher, noun string, quiet bool,
	run func(ctx context.Context, emit func(r output.Record, resync bool) error) error) error {
	if granted, forced := wt.Buffer(); !forced && granted < 2*s.BufferSize {
		fmt.Fprintf(env.Err, "gonfct: receive buffer capped at %d bytes (asked %d): net.core.rmem_max limits it without CAP_NET_ADMIN\n",
			granted/2, s.BufferSize)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Timeout)
		defer cancel()
	}
	n, counted := 0, 0
	err := run(ctx, func(r output.Record, resync bool) error {
		if err := w.Write(r); err != nil {
			return err
		}
		n++
		if !resync {
			counted++
		}
		if s.Count > 0 && counted >= s.Count {
			return ctnetlink.ErrStop
		}
		if !wt.Pending() {
			return w.Flush()
		}
		return nil
	})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	Say(env, quiet, "%d %s events have been shown.", n, noun)
	return nil
}

// AppendEventJSON appends an event as one JSON object: the entry's object
// (appended by obj) with the event in front, {"event":"new",...}, and
// "resync":true for an event a resync made up.
func AppendEventJSON(b []byte, t ctnetlink.EventType, resync bool, obj func([]byte) []byte) []byte {
	b = append(b, `{"event":"`...)
	b = append(b, t.String()...)
	b = append(b, '"')
	if resync {
		b = append(b, `,"resync":true`...)
	}
	b = append(b, ',')
	n := len(b)
	b = obj(b)
	if len(b)-n <= 2 { // {}: no comma then
		return append(b[:n-1], '}')
	}
	copy(b[n:], b[n+1:]) // the object's own '{' goes
	return b[:len(b)-1]
}

// EventCell is the EVENT column of -o table: NEW, UPDATE, DESTROY, with
// " (RESYNC)" for an event a resync made up.
func EventCell(t ctnetlink.EventType, resync bool) string {
	s := strings.ToUpper(t.String())
	if resync {
		s += " (RESYNC)"
	}
	return s
}
