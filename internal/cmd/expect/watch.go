package expect

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/output"
	ctexpect "github.com/gonfct/gonfct/pkg/expect"
	"github.com/spf13/cobra"
)

// WatchOptions serve `expect watch`.
type WatchOptions struct {
	env          *cli.Env
	filter       ctexpect.Filter
	newEv, destr bool
	count        int
	timeout      time.Duration
	bufferSize   int
	resync       bool
}

func NewCmdWatch(env *cli.Env, runF func(*WatchOptions) error) *cobra.Command {
	opts := &WatchOptions{env: env}
	var ff filterFlags
	var events, bufSize string
	var noResync bool
	cmd := &cobra.Command{
		Use:     "watch [-e new,destroy] [filters]",
		Aliases: []string{"events"},
		Short:   "Print expectation events as they happen (conntrack -E expect)",
		Example: `  gonfct expect watch
  gonfct expect watch -e new --helper ftp -o json
  gonfct expect watch --count 1 --timeout 30s    # wait for one expectation`,
		Long: `Print expectation events: -o text in conntrack -E expect's lines
("    [NEW] ..." and "[DESTROY] ..."), -o json one object a line with
"event" ("new" or "destroy").

It does not die silently nor lose events silently: it asks for a large
receive buffer (--buffer-size, SO_RCVBUFFORCE as root; it says so when
net.core.rmem_max caps it); when the buffer overflows anyway (ENOBUFS) it
says on stderr how many events the kernel dropped, dumps the table and
prints the difference as events (marked "resync":true in JSON), then goes
on. Ctrl-C, SIGTERM, --count and --timeout end it with status 0.

The kernel sends events for an expectation only if its master conntrack
has an event cache: with net.netfilter.nf_conntrack_events=2 (the default)
a master created while nobody listened has none, so start watching before
the connections come, or set nf_conntrack_events=1.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.filter, err = ff.build(); err != nil {
				return err
			}
			if opts.newEv, opts.destr, err = eventTypes(events); err != nil {
				return err
			}
			if opts.count < 0 {
				return cli.Usagef("--count %d: want a positive number of events (0: no limit)", opts.count)
			}
			if opts.timeout < 0 {
				return cli.Usagef("--timeout %s: want a positive duration such as 30s", opts.timeout)
			}
			if opts.bufferSize, err = parseSize(bufSize); err != nil {
				return err
			}
			opts.resync = !noResync
			if f := strings.ToLower(env.Output); f == string(output.Table) {
				return cli.Usagef("watch prints -o text or -o json")
			}
			if runF != nil {
				return runF(opts)
			}
			return watchRun(opts)
		},
	}
	f := cmd.Flags()
	ff.add(f, true)
	f.StringVarP(&events, "event-mask", "e", "all", "event types: new, destroy or all (comma-separated)")
	f.IntVarP(&opts.count, "count", "c", 0, "stop after this many events")
	f.DurationVar(&opts.timeout, "timeout", 0, "stop after this long (e.g. 30s)")
	f.StringVarP(&bufSize, "buffer-size", "b", "8M", "receive buffer size (bytes, or with K, M, G)")
	f.BoolVar(&noResync, "no-resync", false, "after lost events, only report the count (no dump, no state kept)")
	return cmd
}

// parseSize reads a byte count with an optional K, M or G suffix.
func parseSize(s string) (int, error) {
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
		return 0, cli.Usagef("--buffer-size %q: want a size from 1 byte to 1G, such as 8M", s)
	}
	return int(n) * mult, nil
}

var errWatchDone = errors.New("enough events")

func watchRun(opts *WatchOptions) error {
	env := opts.env
	w, err := env.Writer(output.Stream, append([]string{"EVENT"}, columns...))
	if err != nil {
		return err
	}
	evConn, err := env.Conn()
	if err != nil {
		return err
	}
	defer evConn.Close()
	qConn, err := env.Conn()
	if err != nil {
		return err
	}
	defer qConn.Close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if opts.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.timeout)
		defer cancel()
	}
	watcher, err := ctexpect.NewWatcher(evConn, qConn, ctexpect.WatchOptions{
		New: opts.newEv, Destroy: opts.destr, Filter: opts.filter,
		BufferSize: opts.bufferSize, Resync: opts.resync,
		OnLoss: func(l ctexpect.Loss) {
			_ = w.Flush()
			msg := fmt.Sprintf("gonfct: WARNING: receive buffer overflowed (ENOBUFS): the kernel dropped %d events", l.Dropped)
			if l.Resynced {
				msg += fmt.Sprintf("; resynchronised from the table: %d new, %d destroyed reported as resync events", l.New, l.Destroyed)
			} else {
				msg += "; not resynchronised (--no-resync)"
			}
			fmt.Fprintln(env.Err, msg+"; a larger --buffer-size helps")
		},
	})
	if err != nil {
		return err
	}
	if granted, forced := watcher.Buffer(); !forced && granted < 2*opts.bufferSize {
		fmt.Fprintf(env.Err, "gonfct: receive buffer capped at %d bytes (asked %d): net.core.rmem_max limits it without CAP_NET_ADMIN\n",
			granted/2, opts.bufferSize)
	}
	rec := &record{}
	n := 0
	err = watcher.Run(ctx, func(ev *ctexpect.Event) error {
		rec.e, rec.event, rec.sync = &ev.Expectation, ev.Type, ev.Resync
		if err := w.Write(rec); err != nil {
			return err
		}
		n++
		if opts.count > 0 && n >= opts.count {
			return errWatchDone
		}
		if !watcher.Pending() {
			return w.Flush()
		}
		return nil
	})
	if errors.Is(err, errWatchDone) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil && w.Format() == output.Text {
		fmt.Fprintf(env.Err, "%d expectation events have been shown.\n", n)
	}
	return err
}
