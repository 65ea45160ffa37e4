package ct

import (
	"errors"
	"fmt"

	"github.com/gonfct/gonfct/pkg/ctflow"
	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
)

// errKernelHelperInfo: ctnetlink hands CTA_HELP_INFO to the helper's
// from_nlattr, which only user-space helpers (nfnetlink_cthelper's) have;
// a kernel helper such as ftp takes the conntrack and drops the data
// without a word, and the command used to exit 0.
var errKernelHelperInfo = errors.New("the kernel keeps private data only for user-space helpers and drops it for a kernel helper")

// checkHelperInfo refuses --helper-info for a conntrack whose helper is a
// kernel helper, before anything is sent: the kernel would take the rest
// and drop the data silently. A runtime error (exit 1): the command line
// is well formed, the kernel's helper table decides. update without
// --helper asks the kernel for the conntrack's helper first.
func checkHelperInfo(c *ctnl.Conn, f *ctflow.Flow, op string) error {
	if !f.Has(ctflow.HasHelperInfo) {
		return nil
	}
	name := f.Helper()
	if !f.Has(ctflow.HasHelper) {
		var cur ctflow.Flow
		if err := ctflow.NewClient(c).Get(ctnetlink.Key{Tuple: f.Orig, Zone: f.Zone, HasZone: f.Has(ctflow.HasZone)}, &cur); err != nil {
			return err
		}
		if !cur.Has(ctflow.HasHelper) {
			return nil // the update reports ctflow.ErrNoHelper
		}
		name = cur.Helper()
	}
	_, err := cthelper.NewClient(c).Get(name, f.Family, f.Proto())
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ctnl.ErrNotFound), errors.Is(err, ctnl.ErrNotSupported):
		// Not among the user-space helpers (or no nfnetlink_cthelper at
		// all, so there are none): a kernel helper.
		return &ctnl.Error{Op: op, Err: errKernelHelperInfo,
			Hint: fmt.Sprintf("%s is a kernel helper: leave --helper-info out, or use a user-space helper (`gonfct helper add`)", name)}
	}
	return err
}
