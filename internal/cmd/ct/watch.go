package ct

import (
	"context"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/cmd/ctcli"
	"github.com/gonfct/gonfct/internal/output"
	"github.com/gonfct/gonfct/pkg/ctflow"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/spf13/cobra"
)

var eventTypes = []ctnetlink.EventType{ctnetlink.EventNew, ctnetlink.EventUpdate, ctnetlink.EventDestroy}

// WatchOptions serve `ct watch`.
type WatchOptions struct {
	env    *cli.Env
	text   *textOut
	watch  ctcli.Watch
	filter ctflow.Filter
	quiet  bool
}

// NewCmdWatch is `ct watch`.
func NewCmdWatch(env *cli.Env, runF func(*WatchOptions) error) *cobra.Command {
	opts := &WatchOptions{env: env}
	var (
		ff filterFlags
		wf ctcli.WatchFlags
	)
	cmd := &cobra.Command{
		Use:   "watch [-e new,update,destroy] [filters]",
		Short: "Print conntrack events as they happen (conntrack -E's format with -o text)",
		Example: `  gonfct ct watch
  gonfct ct watch -e new,destroy --helper ftp -o json
  gonfct ct watch -p tcp --dport 21 --count 1 --timeout 30s -b 8M`,
		Long: `Print conntrack events until interrupted (or --count, --timeout): -o text
in conntrack -E's lines, -o json one object a line with "event".

When the socket buffer overflows, the kernel drops events: watch says how many
on stderr (exactly, from the socket's drop counter), then, once it has read
what was queued, dumps the table and prints every entry as a [RESYNC] event
("resync":true in JSON), so a consumer holds the full current state again, and
goes on. Ctrl-C, SIGTERM, --count and --timeout end it with status 0, and the
count on stderr ("N flow events have been shown.").`,
		Args: ctcli.QuietArgs(&opts.quiet, cli.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.env, opts.text, err = textFormat(env, true); err != nil {
				return err
			}
			if opts.watch, err = wf.Parse(opts.env.Output, eventTypes...); err != nil {
				return err
			}
			if opts.filter, err = ff.filter(); err != nil {
				return err
			}
			if err := opts.text.labelFilter(&opts.filter); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return watchRun(opts)
		},
	}
	wf.Add(cmd.Flags(), eventTypes...)
	wf.AddEventAlias(cmd.Flags(), "event")
	ff.add(cmd.Flags())
	ctcli.QuietFlag(cmd, &opts.quiet)
	return cmd
}

// eventRecord is one event for the output writer.
type eventRecord struct {
	ev *ctflow.Event
	o  *textOut
}

func (r eventRecord) AppendText(b []byte) []byte {
	return r.o.appendEvent(b, &r.ev.Flow, r.ev.Type, r.ev.Resync)
}

func (r eventRecord) Row() []string {
	return append([]string{ctcli.EventCell(r.ev.Type, r.ev.Resync)}, r.ev.Flow.Row()...)
}

func (r eventRecord) AppendJSON(b []byte) []byte {
	return ctcli.AppendEventJSON(b, r.ev.Type, r.ev.Resync, r.ev.Flow.AppendJSON)
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
	wo := ctflow.WatchOptions{Events: opts.watch.Events, Filter: opts.filter, BufferSize: opts.watch.BufferSize,
		Resync: opts.watch.Resync, OnLoss: opts.watch.OnLoss(env, w, "conntrack")}
	var query *ctnl.Conn // for the resync dumps
	if wo.Resync {
		if query, err = env.Conn(); err != nil {
			return err
		}
		defer query.Close()
	}
	watcher, err := ctflow.NewWatcher(c, query, wo)
	if err != nil {
		return err
	}
	return opts.watch.Run(env, w, watcher, "flow", opts.quiet, func(ctx context.Context, emit func(output.Record, bool) error) error {
		return watcher.Run(ctx, func(ev *ctflow.Event) error { return emit(eventRecord{ev, opts.text}, ev.Resync) })
	})
}
