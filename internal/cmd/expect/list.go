package expect

import (
	"strconv"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/cmd/ctcli"
	"github.com/gonfct/gonfct/internal/output"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	ctexpect "github.com/gonfct/gonfct/pkg/expect"
	"github.com/spf13/cobra"
)

// ListOptions serve `expect list`.
type ListOptions struct {
	env    *cli.Env
	filter ctexpect.Filter
	quiet  bool
}

// NewCmdList is `expect list`.
func NewCmdList(env *cli.Env, runF func(*ListOptions) error) *cobra.Command {
	opts := &ListOptions{env: env}
	var ff filterFlags
	cmd := &cobra.Command{
		Use:     "list [filters]",
		Aliases: []string{"ls"},
		Short:   "List expectations (conntrack -L expect), streamed, with filters",
		Example: `  gonfct expect list
  gonfct expect list --helper ftp -o table
  gonfct expect list -p tcp --dport 50000 -o json
  gonfct expect list --master "tcp 192.0.2.1 192.0.2.2 40000 21"`,
		Long: `List the expectation table. -o text prints conntrack -L expect's lines,
-o json an array of objects (docs/json.md), -o table a table; the count goes
to stderr ("N expectations have been shown."). Filters combine with AND;
family and a full --master are applied by the kernel, the rest as the table
streams by.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.filter, err = ff.build(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return listRun(opts)
		},
	}
	ff.add(cmd.Flags())
	ctcli.QuietFlag(cmd, &opts.quiet)
	return cmd
}

func listRun(opts *ListOptions) error {
	w, err := ctcli.Print(opts.env, output.List, columns, func(c *ctnl.Conn, w *output.Writer) error {
		rec := &record{}
		return ctexpect.NewClient(c).List(opts.filter, func(e *ctexpect.Expectation) error {
			rec.e = e
			return w.Write(rec)
		})
	})
	if err != nil {
		return err
	}
	ctcli.Say(opts.env, opts.quiet, "%d expectations have been shown.", w.Count())
	return nil
}

// CountOptions serve `expect count`.
type CountOptions struct {
	env    *cli.Env
	filter ctexpect.Filter
}

// NewCmdCount is `expect count`.
func NewCmdCount(env *cli.Env, runF func(*CountOptions) error) *cobra.Command {
	opts := &CountOptions{env: env}
	var ff filterFlags
	cmd := &cobra.Command{
		Use:   "count [filters]",
		Short: "Count expectations (conntrack -C expect)",
		Example: `  gonfct expect count
  gonfct expect count --helper rpc`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.filter, err = ff.build(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return countRun(opts)
		},
	}
	ff.add(cmd.Flags())
	return cmd
}

func countRun(opts *CountOptions) error {
	_, err := ctcli.Print(opts.env, output.Single, ctcli.CountColumns, func(c *ctnl.Conn, w *output.Writer) error {
		n := 0
		if err := ctexpect.NewClient(c).List(opts.filter, func(*ctexpect.Expectation) error { n++; return nil }); err != nil {
			return err
		}
		return w.Write(ctcli.CountRecord{Count: n})
	})
	return err
}

// StatsOptions serve `expect stats`.
type StatsOptions struct{ env *cli.Env }

type statsRecord struct{ ctexpect.CPUStats }

func (r statsRecord) AppendText(b []byte) []byte {
	// conntrack -S expect: "cpu=%-4u\texpect_new=%u expect_create=%u expect_delete=%u \n"
	b = append(b, "cpu="...)
	n := len(b)
	b = strconv.AppendUint(b, uint64(r.CPU), 10)
	for len(b)-n < 4 {
		b = append(b, ' ')
	}
	b = append(b, "\texpect_new="...)
	b = strconv.AppendUint(b, uint64(r.New), 10)
	b = append(b, " expect_create="...)
	b = strconv.AppendUint(b, uint64(r.Create), 10)
	b = append(b, " expect_delete="...)
	b = strconv.AppendUint(b, uint64(r.Delete), 10)
	return append(b, " \n"...)
}

func (r statsRecord) Row() []string {
	return []string{strconv.Itoa(int(r.CPU)), strconv.FormatUint(uint64(r.New), 10),
		strconv.FormatUint(uint64(r.Create), 10), strconv.FormatUint(uint64(r.Delete), 10)}
}

// NewCmdStats is `expect stats`.
func NewCmdStats(env *cli.Env, runF func(*StatsOptions) error) *cobra.Command {
	opts := &StatsOptions{env: env}
	return &cobra.Command{
		Use:   "stats",
		Short: "Per-CPU expectation counters (conntrack -S expect)",
		Example: `  gonfct expect stats
  gonfct expect stats -o json`,
		Long: `Per-CPU expectation counters of the namespace: expect_new (expectations
matched by a new connection), expect_create (created), expect_delete
(deleted or expired).`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return statsRun(opts)
		},
	}
}

func statsRun(opts *StatsOptions) error {
	_, err := ctcli.Print(opts.env, output.List, []string{"CPU", "EXPECT_NEW", "EXPECT_CREATE", "EXPECT_DELETE"},
		func(c *ctnl.Conn, w *output.Writer) error {
			return ctexpect.NewClient(c).Stats(func(st ctexpect.CPUStats) error { return w.Write(statsRecord{st}) })
		})
	return err
}

// GetOptions serve `expect get`.
type GetOptions struct {
	env   *cli.Env
	key   ctnetlink.Key
	quiet bool
}

// NewCmdGet is `expect get`.
func NewCmdGet(env *cli.Env, runF func(*GetOptions) error) *cobra.Command {
	opts := &GetOptions{env: env}
	var zone, id string
	cmd := &cobra.Command{
		Use:   "get PROTO SRC DST [SPORT DPORT]",
		Short: "Show the expectation of one expected tuple (conntrack -G expect)",
		Example: `  gonfct expect get tcp 192.0.2.2 192.0.2.1 0 50000
  gonfct expect get tcp 2001:db8::2 2001:db8::1 0 50000 -o json`,
		Long: `Show the expectation whose expected connection is the given tuple, in
either form: "tcp 10.0.0.2 10.0.0.1 0 50000" or
"proto=tcp src=10.0.0.2 dst=10.0.0.1 sport=0 dport=50000".`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.key, err = ctcli.ParseKey(args, zone); err != nil {
				return err
			}
			if opts.key.ID, err = parseID(id); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return getRun(opts)
		},
	}
	cmd.Flags().StringVar(&zone, "zone", "", "conntrack zone of the master")
	cmd.Flags().StringVar(&id, "id", "", "only if the expectation has this ID")
	ctcli.QuietFlag(cmd, &opts.quiet)
	return cmd
}

// parseID reads --id ("" is none).
func parseID(s string) (uint32, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 0, 32)
	if err != nil || n == 0 {
		return 0, cli.Usagef("--id %q: want an expectation ID as `gonfct expect list -o json` shows it", s)
	}
	return uint32(n), nil
}

func getRun(opts *GetOptions) error {
	_, err := ctcli.Print(opts.env, output.Single, columns, func(c *ctnl.Conn, w *output.Writer) error {
		var e ctexpect.Expectation
		if err := ctexpect.NewClient(c).Get(opts.key, &e); err != nil {
			return adviseLookup(err)
		}
		return w.Write(&record{e: &e})
	})
	if err != nil {
		return err
	}
	ctcli.Say(opts.env, opts.quiet, "1 expectations have been shown.")
	return nil
}
