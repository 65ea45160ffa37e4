package ct

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/cli/clitest"
	"github.com/gonfct/gonfct/internal/cmd/ctcli"
	"github.com/gonfct/gonfct/pkg/ctflow"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/ctnl/ctnltest"
	"github.com/mdlayher/netlink"
	"github.com/ti-mo/netfilter"
)

// helperKernel is a fake kernel whose only helpers are kernel ones: the
// user-space helper table (nfnetlink_cthelper) is empty, and the one
// conntrack, which a GET returns, carries helper ftp.
type helperKernel struct {
	changes int // ctnetlink requests other than GET: changes of the table
}

func (k *helperKernel) serve(r netlink.Message) [][]netlink.Message {
	subsys, typ := netfilter.SubsystemID(r.Header.Type>>8), uint8(r.Header.Type&0xff)
	switch {
	case subsys == netfilter.NFSubsysCTHelper:
		return [][]netlink.Message{{ctnltest.Done(r)}}
	case subsys == netfilter.NFSubsysCTNetlink && typ == 1: // IPCTNL_MSG_CT_GET
		f := ctflow.Flow{}
		f.Orig, _ = ctcli.ParseTuple("tuple", "tcp", "10.0.0.1", "10.0.0.2", "40000", "21")
		f.Reply, f.Family = ctflow.Invert(f.Orig), f.Orig.Family()
		_ = f.SetHelper("ftp")
		enc := ctnl.NewEncoder(nil)
		ctflow.EncodeCreate(enc, &f)
		return [][]netlink.Message{{ctnltest.Reply(r, 0, 0, f.Family, enc.Bytes())}, {ctnltest.Ack(r, 0)}}
	}
	k.changes++
	return [][]netlink.Message{{ctnltest.Ack(r, 0)}}
}

// --helper-info for a kernel helper was dropped by the kernel without a
// word, exit 0 (issue 19, defect 5): now refused before anything is sent.
func TestHelperInfoForKernelHelperRefused(t *testing.T) {
	for _, args := range [][]string{
		{"add", "tcp", "10.0.0.1", "10.0.0.2", "40000", "21", "-t", "60", "--helper", "ftp", "--helper-info", "0a0b"},
		{"update", "tcp", "10.0.0.1", "10.0.0.2", "40000", "21", "--helper-info", "0a0b"},
		{"update", "tcp", "10.0.0.1", "10.0.0.2", "40000", "21", "--helper", "ftp", "--helper-info", "0a0b"},
	} {
		k := &helperKernel{}
		var errb bytes.Buffer
		env := &cli.Env{Out: &bytes.Buffer{}, Err: &errb, Dial: func() (*ctnl.Conn, error) {
			return ctnltest.Dial(ctnltest.Serve(k.serve)), nil
		}}
		cmd := NewCmdAdd(env, nil)
		if args[0] == "update" {
			cmd = NewCmdUpdate(env, nil)
		}
		err := clitest.Execute(t, cmd, args[1:]...)
		if cli.ExitCode(err) != cli.ExitRuntime || !strings.Contains(err.Error(), "ftp is a kernel helper") {
			t.Errorf("ct %q: %v (exit %d), want exit 1 saying ftp is a kernel helper", args, err, cli.ExitCode(err))
		}
		if k.changes != 0 {
			t.Errorf("ct %q sent %d changes to the kernel, want none", args, k.changes)
		}
	}
}
