package expect

import (
	"context"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/cmd/ctcli"
	"github.com/gonfct/gonfct/internal/output"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	ctexpect "github.com/gonfct/gonfct/pkg/expect"
	"github.com/spf13/cobra"
)

// The kernel sends no update events for expectations.
var eventTypes = []ctnetlink.EventType{ctnetlink.EventNew, ctnetlink.EventDestroy}

// WatchOptions serve `expect watch`.
type WatchOptions struct {
	env    *cli.Env
	watch  ctcli.Watch
	filter ctexpect.Filter
	quiet  bool
}

// NewCmdWatch is `expect watch`.
func NewCmdWatch(env *cli.Env, runF func(*WatchOptions) error) *cobra.Command {
	opts := &WatchOptions{env: env}
	var (
		ff filterFlags
		wf ctcli.WatchFlags
	)
	cmd := &cobra.Command{
		Use:     "watch [-e new,destroy] [filters]",
		Aliases: []string{"events"},
		Short:   "Print expectation events as they happen (conntrack -E expect)",
		Example: `  gonfct expect watch
  gonfct expect watch -e new --helper ftp -o json
  gonfct expect watch --count 1 --timeout 30s -b 8M    # wait for one expectation`,
		Long: `Print expectation events: -o text in conntrack -E expect's lines
("    [NEW] ..." and "[DESTROY] ..."), -o json one object a line with
"event" ("new" or "destroy").

It does not die silently nor lose events silently: it asks for a large
receive buffer (--buffer-size, SO_RCVBUFFORCE as root; it says so when
net.core.rmem_max caps it); when the buffer overflows anyway (ENOBUFS) it
says on stderr how many events the kernel dropped and, once it has read what
was queued, dumps the table and prints the difference to what it knew as
events (marked "resync":true in JSON), then goes on. Ctrl-C, SIGTERM,
--count and --timeout end it with status 0, and the count on stderr ("N
expectation events have been shown.").

The kernel sends events for an expectation only if its master conntrack
has an event cache: with net.netfilter.nf_conntrack_events=2 (the default)
a master created while nobody listened has none, so start watching before
the connections come, or set nf_conntrack_events=1.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.watch, err = wf.Parse(env.Output, eventTypes...); err != nil {
				return err
			}
			if opts.filter, err = ff.build(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return watchRun(opts)
		},
	}
	wf.Add(cmd.Flags(), eventTypes...)
	ff.add(cmd.Flags())
	ctcli.QuietFlag(cmd, &opts.quiet)
	return cmd
}

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
	// Dumps and master lookups (--zone) go through a second socket.
	qConn, err := env.Conn()
	if err != nil {
		return err
	}
	defer qConn.Close()
	watcher, err := ctexpect.NewWatcher(evConn, qConn, ctexpect.WatchOptions{
		Events: opts.watch.Events, Filter: opts.filter, BufferSize: opts.watch.BufferSize,
		Resync: opts.watch.Resync, OnLoss: opts.watch.OnLoss(env, w, "expectation"),
	})
	if err != nil {
		return err
	}
	rec := &record{}
	return opts.watch.Run(env, w, watcher, "expectation", opts.quiet, func(ctx context.Context, emit func(output.Record, bool) error) error {
		return watcher.Run(ctx, func(ev *ctexpect.Event) error {
			rec.e, rec.event, rec.resync = &ev.Expectation, ev.Type, ev.Resync
			return emit(rec, ev.Resync)
		})
	})
}
