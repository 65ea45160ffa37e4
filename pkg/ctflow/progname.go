package ctflow

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// progName finds the program that owns netlink port portid, the way
// conntrack -E does for its "progname=": most programs' first netlink
// socket has their process ID as port ID, so look in that process for a
// NETLINK_NETFILTER socket with this port and name the process from
// /proc/PID/stat. Unlike conntrack, it does not scan every process when
// that fails (a program's second socket): it then says nothing. The last
// answer is remembered, as events come in runs from one requester.
func progName(portid uint32) string {
	progCache.Lock()
	defer progCache.Unlock()
	if progCache.portid == portid && progCache.portid != 0 {
		return progCache.name
	}
	name := lookupProgName(portid)
	progCache.portid, progCache.name = portid, name
	return name
}

var progCache struct {
	sync.Mutex
	portid uint32
	name   string
}

func lookupProgName(portid uint32) string {
	const netlinkNetfilter = 12
	pid := strconv.FormatUint(uint64(portid), 10)
	f, err := os.Open("/proc/" + pid + "/net/netlink")
	if err != nil {
		return ""
	}
	defer f.Close()
	inode := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
		w := strings.Fields(sc.Text())
		if len(w) >= 10 && w[1] == strconv.Itoa(netlinkNetfilter) && w[2] == pid {
			inode = w[9]
			break
		}
	}
	if inode == "" {
		return ""
	}
	fds, err := os.ReadDir("/proc/" + pid + "/fd")
	if err != nil {
		return ""
	}
	want := fmt.Sprintf("socket:[%s]", inode)
	for _, fd := range fds {
		if l, err := os.Readlink("/proc/" + pid + "/fd/" + fd.Name()); err == nil && l == want {
			stat, err := os.ReadFile("/proc/" + pid + "/stat")
			if err != nil {
				return ""
			}
			s := string(stat)
			i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
			if i < 0 || j < i {
				return ""
			}
			return s[i+1 : j]
		}
	}
	return ""
}
