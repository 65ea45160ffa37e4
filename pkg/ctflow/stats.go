package ctflow

import (
	"github.com/gonfct/gonfct/pkg/ctnetlink"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/mdlayher/netlink"
)

// CPUStats are one CPU's conntrack counters (conntrack -S): Values by
// attribute number (ctnetlink.StatsNames), Present says which the kernel
// sent, since kernels differ in the set and absent is not zero.
type CPUStats struct {
	CPU     uint16
	Present uint32 // bit n: Values[n] was sent
	Values  [len(ctnetlink.StatsNames)]uint32
}

// Has reports whether the kernel sent counter n.
func (s *CPUStats) Has(n int) bool { return s.Present&(1<<n) != 0 }

// Stats reads the per-CPU conntrack counters
// (IPCTNL_MSG_CT_GET_STATS_CPU), one call of fn per CPU.
func (cl *Client) Stats(fn func(*CPUStats) error) error {
	cl.enc.Reset()
	return cl.c.Query(cl.request("read conntrack statistics", ctnetlink.MsgGetStatsCPU, 0, netlink.Dump, nil),
		func(m ctnl.Message) error {
			st := CPUStats{CPU: m.Header.ResourceID}
			s := ctnl.NewScanner(m.Attrs)
			for s.Next() {
				if t := int(s.Type()); t > 0 && t < len(st.Values) {
					st.Values[t], st.Present = s.Uint32(), st.Present|1<<t
				}
			}
			if err := s.Err(); err != nil {
				return err
			}
			return fn(&st)
		})
}
