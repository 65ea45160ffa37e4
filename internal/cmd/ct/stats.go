package ct

import (
	"strconv"
	"strings"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/cmd/ctcli"
	"github.com/gonfct/gonfct/internal/output"
	"github.com/gonfct/gonfct/pkg/ctflow"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/spf13/cobra"
)

// ---- count

// CountOptions serve `ct count`.
type CountOptions struct {
	env    *cli.Env
	filter ctflow.Filter
	any    bool // filters given: count by listing
}

// NewCmdCount is `ct count`.
func NewCmdCount(env *cli.Env, runF func(*CountOptions) error) *cobra.Command {
	opts := &CountOptions{env: env}
	var ff filterFlags
	cmd := &cobra.Command{
		Use:   "count [filters]",
		Short: "Count conntracks (conntrack -C), or those the filters select",
		Example: `  gonfct ct count
  gonfct ct count -u unreplied`,
		Long: `Print the number of conntracks in the namespace, as conntrack -C does (the
kernel's counter, read in one message). With filters, gonfct lists the
table and counts what they select; conntrack -C takes none.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.filter, err = ff.filter(); err != nil {
				return err
			}
			opts.any = ff.any()
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
		cl := ctflow.NewClient(c)
		if !opts.any {
			n, err := cl.Count()
			if err != nil {
				return err
			}
			return w.Write(ctcli.CountRecord{Count: int(n)})
		}
		n := 0
		if err := cl.List(opts.filter, func(*ctflow.Flow) error { n++; return nil }); err != nil {
			return err
		}
		return w.Write(ctcli.CountRecord{Count: n})
	})
	return err
}

// ---- stats

// StatsOptions serve `ct stats`.
type StatsOptions struct{ env *cli.Env }

// statsColumns are the counters Linux 6.x sends, in conntrack -S's order;
// the table format shows these (a kernel that sends others: -o text or json).
var statsColumns = []int{2, 4, 8, 9, 10, 11, 12, 13, 14, 15}

type statsRecord struct{ s *ctflow.CPUStats }

// AppendText is conntrack -S's line: "cpu=N" padded to 4 digits, a tab,
// then each counter the kernel sent as name=value and a blank.
func (r statsRecord) AppendText(b []byte) []byte {
	b = append(b, "cpu="...)
	n := len(b)
	b = strconv.AppendUint(b, uint64(r.s.CPU), 10)
	for len(b)-n < 4 {
		b = append(b, ' ')
	}
	b = append(b, '\t')
	for i, name := range ctnetlink.StatsNames {
		if name != "" && r.s.Has(i) {
			b = append(b, name...)
			b = append(b, '=')
			b = strconv.AppendUint(b, uint64(r.s.Values[i]), 10)
			b = append(b, ' ')
		}
	}
	return append(b, '\n')
}

func (r statsRecord) Row() []string {
	row := []string{strconv.Itoa(int(r.s.CPU))}
	for _, i := range statsColumns {
		v := ""
		if r.s.Has(i) {
			v = strconv.FormatUint(uint64(r.s.Values[i]), 10)
		}
		row = append(row, v)
	}
	return row
}

func (r statsRecord) AppendJSON(b []byte) []byte {
	b = append(b, `{"cpu":`...)
	b = strconv.AppendUint(b, uint64(r.s.CPU), 10)
	for i, name := range ctnetlink.StatsNames {
		if name != "" && r.s.Has(i) {
			b = append(b, `,"`...)
			b = append(b, name...)
			b = append(b, `":`...)
			b = strconv.AppendUint(b, uint64(r.s.Values[i]), 10)
		}
	}
	return append(b, '}')
}

func statsHeader() []string {
	h := []string{"CPU"}
	for _, i := range statsColumns {
		h = append(h, strings.ToUpper(ctnetlink.StatsNames[i]))
	}
	return h
}

// NewCmdStats is `ct stats`.
func NewCmdStats(env *cli.Env, runF func(*StatsOptions) error) *cobra.Command {
	opts := &StatsOptions{env: env}
	return &cobra.Command{
		Use:   "stats",
		Short: "Per-CPU conntrack counters (conntrack -S)",
		Example: `  gonfct ct stats
  gonfct ct stats -o json`,
		Long: `Per-CPU conntrack counters of the namespace, as conntrack -S prints them:
found, invalid, insert, insert_failed, drop, early_drop, error,
search_restart, clash_resolve, chaintoolong (the set depends on the
kernel; each counter the kernel sends is shown).`,
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
	_, err := ctcli.Print(opts.env, output.List, statsHeader(), func(c *ctnl.Conn, w *output.Writer) error {
		return ctflow.NewClient(c).Stats(func(st *ctflow.CPUStats) error { return w.Write(statsRecord{st}) })
	})
	return err
}
