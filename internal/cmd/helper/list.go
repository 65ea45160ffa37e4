package helper

import (
	"fmt"
	"strconv"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/output"
	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/engine/registry"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/spf13/cobra"
)

// record prints a helper in every output format.
type record struct {
	Name     string            `json:"name"`
	Family   string            `json:"family"`
	Protocol string            `json:"protocol"`
	Queue    uint32            `json:"queue"`
	Status   string            `json:"status"`
	PrivLen  uint32            `json:"priv_data_len"`
	Policies []cthelper.Policy `json:"policies"`
	// ServedBy is the gonfct run serving the helper, if one does.
	ServedBy *servedBy `json:"served_by,omitempty"`

	h cthelper.Helper
}

var columns = []string{"NAME", "FAMILY", "PROTO", "QUEUE", "STATUS", "PRIV-LEN", "POLICIES", "ENGINE"}

func newRecord(h cthelper.Helper) record {
	ps := h.Policies
	if ps == nil {
		ps = []cthelper.Policy{}
	}
	return record{Name: h.Name, Family: ctnl.FamilyName(h.Family), Protocol: ctnl.ProtoName(h.Proto),
		Queue: h.QueueNum, Status: h.Status.String(), PrivLen: h.PrivLen, Policies: ps, h: h}
}

func (r record) AppendText(b []byte) []byte {
	return fmt.Appendf(b, "%s %s %s queue=%d %s priv-len=%d policy=%s%s\n",
		r.Name, r.Family, r.Protocol, r.Queue, r.Status, r.PrivLen, formatPolicies(r.Policies), r.ServedBy.text())
}

func (r record) Row() []string {
	return []string{r.Name, r.Family, r.Protocol, strconv.Itoa(int(r.Queue)), r.Status,
		strconv.Itoa(int(r.PrivLen)), formatPolicies(r.Policies), r.ServedBy.cell()}
}

// AppendFormat serves -o nfct: nfct's own block (libnetfilter_cthelper's snprintf).
func (r record) AppendFormat(f output.Format, b []byte) []byte {
	return fmt.Appendf(b, "{\n\t.name = %s,\n\t.queuenum = %d,\n\t.l3protonum = %d,\n\t.l4protonum = %d,\n\t.priv_data_len = %d,\n\t.status = %s,\n};\n",
		r.Name, r.Queue, r.h.Family, r.h.Proto, r.PrivLen, r.Status)
}

// ListOptions are the words of `helper list` and `helper get`: get is a
// list of the helpers with one name.
type ListOptions struct {
	Env *cli.Env
	Key *key // nil: all
	// RegistryDir is the host's engine registry, read to say which
	// engine serves each helper.
	RegistryDir string
}

// NewCmdGet makes `helper get`.
func NewCmdGet(env *cli.Env, runF func(*ListOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME [FAMILY [PROTO]]",
		Short: "Show the helpers of that name",
		Example: `  gonfct helper get rpc                       # every family and protocol
  gonfct helper get rpc inet udp -o json
  gonfct helper get steam inet udp -o nfct    # exactly as nfct prints it`,
		Args: cli.RangeArgs(1, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := parseKey(args)
			if err != nil {
				return err
			}
			opts := &ListOptions{Env: env, Key: &k, RegistryDir: registry.DefaultDir}
			if runF != nil {
				return runF(opts)
			}
			return listRun(opts)
		},
	}
}

// NewCmdList makes `helper list`.
func NewCmdList(env *cli.Env, runF func(*ListOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "Show every user-space helper (-o text|table|json|nfct)",
		Example: `  gonfct helper list
  gonfct helper list -o table
  gonfct list helper -o nfct                  # nfct word order and format`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := &ListOptions{Env: env, RegistryDir: registry.DefaultDir}
			if runF != nil {
				return runF(opts)
			}
			return listRun(opts)
		},
	}
}

func listRun(o *ListOptions) error {
	w, err := o.Env.Writer(output.List, columns, output.Nfct)
	if err != nil {
		return err
	}
	cl, done, err := client(o.Env)
	if err != nil {
		return err
	}
	defer done()
	var hs []cthelper.Helper
	if o.Key == nil {
		hs, err = cl.List()
	} else {
		hs, err = cl.Get(o.Key.Name, o.Key.Family, o.Key.Proto)
		err = adviseNotFound(err)
	}
	if err != nil {
		return err
	}
	engines := runningEngines(o.Env, o.RegistryDir)
	for _, h := range hs {
		r := newRecord(h)
		r.ServedBy = engineServing(engines, h)
		if err := w.Write(r); err != nil {
			return err
		}
	}
	return w.Close()
}
