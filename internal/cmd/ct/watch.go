package ct

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/output"
	"github.com/gonfct/gonfct/pkg/ctflow"
	"github.com/spf13/cobra"
)

// ---- watch

type WatchOptions struct {
	env      *cli.Env
	events   []ctflow.Event
	filter   ctflow.Filter
	count    int
	timeout  time.Duration
	buffer   int
	noResync bool
}

func parseEvents(s string) ([]ctflow.Event, error) {
	var evs []ctflow.Event
	for _, w := range strings.Split(s, ",") {
		switch strings.ToLower(strings.TrimSpace(w)) {
		case "new":
			evs = append(evs, ctflow.EventNew)
		case "update", "updates":
			evs = append(evs, ctflow.EventUpdate)
		case "destroy":
			evs = append(evs, ctflow.EventDestroy)
		case "all":
			evs = append(evs, ctflow.EventNew, ctflow.EventUpdate, ctflow.EventDestroy)
		case "":
		default:
			return nil, cli.Usagef("-e %q: want new, update, destroy or all (comma-separated)", w)
		}
	}
	return evs, nil
}

func NewCmdWatch(env *cli.Env, runF func(*WatchOptions) error) *cobra.Command {
	opts := &WatchOptions{env: env}
	var (
		ff     filterFlags
		events string
	)
	cmd := &cobra.Command{
		Use:   "watch [-e new,update,destroy] [filters]",
		Short: "Print conntrack events as they happen (conntrack -E's format with -o text)",
		Example: `  gonfct ct watch
  gonfct ct watch -e new,destroy --helper ftp -o json
  gonfct ct watch -p tcp --dport 21 --count 1 --timeout 30s`,
		Long: `Print conntrack events until interrupted (or --count, --timeout).

When the socket buffer overflows, the kernel drops events: watch says how many
on stderr (exactly, from the socket's drop counter), then dumps the table and
prints every entry as a [RESYNC] event, so a consumer holds the full current
state again, and goes on.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.events, err = parseEvents(events); err != nil {
				return err
			}
			if opts.filter, err = ff.filter(); err != nil {
				return err
			}
			if opts.count < 0 || opts.timeout < 0 || opts.buffer < 0 {
				return cli.Usagef("--count, --timeout and --buffer-size cannot be negative")
			}
			if runF != nil {
				return runF(opts)
			}
			return watchRun(opts)
		},
	}
	cmd.Flags().StringVarP(&events, "event", "e", "all", "events to show: new, update, destroy (comma-separated)")
	cmd.Flags().IntVarP(&opts.count, "count", "c", 0, "stop after this many events (0: no limit)")
	cmd.Flags().DurationVar(&opts.timeout, "timeout", 0, "stop after this long (e.g. 30s; 0: no limit)")
	cmd.Flags().IntVarP(&opts.buffer, "buffer-size", "b", 32<<20, "socket receive buffer in bytes (SO_RCVBUFFORCE; a limit, not memory taken up front)")
	cmd.Flags().BoolVar(&opts.noResync, "no-resync", false, "after lost events, only report the loss (no dump)")
	addFilterFlags(cmd.Flags(), &ff)
	return cmd
}

// eventRecord is one event for the output writer.
type eventRecord struct {
	ev ctflow.Event
	f  *ctflow.Flow
}

func (r eventRecord) AppendText(b []byte) []byte { return r.f.AppendEvent(b, r.ev) }
func (r eventRecord) Row() []string {
	return append([]string{strings.ToUpper(r.ev.String())}, r.f.Row()...)
}
func (r eventRecord) MarshalJSON() ([]byte, error) {
	j := r.f.JSON()
	j.Event = r.ev.String()
	return json.Marshal(j)
}

func watchRun(opts *WatchOptions) error {
	env := opts.env
	w, err := env.Writer(output.Stream, append([]string{"EVENT"}, ctflow.Columns...))
	if err != nil {
		return err
	}
	c, err := env.Conn()
	if err != nil {
		return err
	}
	defer c.Close()
	if opts.buffer > 0 {
		granted, forced, err := c.SetReceiveBuffer(opts.buffer)
		if err != nil {
			return err
		}
		if !forced {
			fmt.Fprintf(env.Err, "gonfct: receive buffer capped at %d bytes by net.core.rmem_max (SO_RCVBUFFORCE needs CAP_NET_ADMIN)\n", granted/2)
		}
	}
	if err := ctflow.Subscribe(c, opts.events); err != nil {
		return err
	}
	var resync *ctflow.Client
	if !opts.noResync {
		c2, err := env.Conn()
		if err != nil {
			return err
		}
		defer c2.Close()
		resync = ctflow.NewClient(c2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if opts.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.timeout)
		defer cancel()
	}
	n := 0
	err = ctflow.Watch(ctx, c, ctflow.WatchOptions{
		Events: opts.events,
		Filter: &opts.filter,
		Resync: resync,
		OnLoss: func(lost uint32) {
			w.Flush()
			what := "resyncing from a dump"
			if resync == nil {
				what = "not resyncing (--no-resync)"
			}
			fmt.Fprintf(env.Err, "gonfct: lost %d conntrack events (socket receive buffer full; raise --buffer-size); %s\n", lost, what)
		},
		OnEvent: func(ev ctflow.Event, f *ctflow.Flow) error {
			if err := w.Write(eventRecord{ev, f}); err != nil {
				return err
			}
			if err := w.Flush(); err != nil {
				return err
			}
			n++
			if opts.count > 0 && n >= opts.count && ev != ctflow.EventResync {
				return ctflow.ErrStop
			}
			return nil
		},
	})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}
