// Package builtin is the table of gonfct's built-in helpers: their default
// policies, private-data lengths and ports (those of conntrack-tools, so
// objects made by nfct and gonfct agree), and the parser each one runs
// under `gonfct run`. A new protocol is one line here.
package builtin

import (
	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/amanda"
	"github.com/gonfct/gonfct/pkg/cthelper/dhcpv6"
	"github.com/gonfct/gonfct/pkg/cthelper/ftp"
	"github.com/gonfct/gonfct/pkg/cthelper/mdns"
	"github.com/gonfct/gonfct/pkg/cthelper/nsrexec"
	"github.com/gonfct/gonfct/pkg/cthelper/rpc"
	"github.com/gonfct/gonfct/pkg/cthelper/rsh"
	"github.com/gonfct/gonfct/pkg/cthelper/sane"
	"github.com/gonfct/gonfct/pkg/cthelper/slp"
	"github.com/gonfct/gonfct/pkg/cthelper/ssdp"
	"github.com/gonfct/gonfct/pkg/cthelper/tftp"
	"github.com/gonfct/gonfct/pkg/cthelper/tns"
	"golang.org/x/sys/unix"
)

var (
	tcp    = []uint8{unix.IPPROTO_TCP}
	udp    = []uint8{unix.IPPROTO_UDP}
	tcpUDP = []uint8{unix.IPPROTO_TCP, unix.IPPROTO_UDP}
	both   = []uint8{unix.AF_INET, unix.AF_INET6}
	ipv6   = []uint8{unix.AF_INET6}
)

func policy(name string, max, timeout uint32) []cthelper.Policy {
	return []cthelper.Policy{{Name: name, ExpectMax: max, ExpectTimeout: timeout}}
}

// Registry holds every built-in helper.
var Registry = cthelper.NewRegistry(
	cthelper.Spec{Name: "amanda", Protos: udp, Families: both, PrivLen: 0, Policies: policy("amanda", 4, 180), Port: 10080,
		Doc: "Amanda backup: DATA, MESG, INDEX and STATE connections", NewParser: amanda.New},
	cthelper.Spec{Name: "dhcpv6", Protos: udp, Families: ipv6, PrivLen: 0, Policies: policy("dhcpv6", 1, 300), Port: 547,
		Doc: "DHCPv6 client: the server's unicast replies", NewParser: dhcpv6.New},
	cthelper.Spec{Name: "ftp", Protos: tcp, Families: both, PrivLen: 24, Policies: policy("ftp", 1, 300), Port: 21,
		Doc: "FTP: PORT/EPRT and PASV/EPSV data connections", NewParser: ftp.New},
	cthelper.Spec{Name: "mdns", Protos: udp, Families: both, PrivLen: 0, Policies: policy("mdns", 8, 30), Port: 5353,
		Doc: "multicast DNS: unicast answers to queries", NewParser: mdns.New},
	cthelper.Spec{Name: "nsrexec", Protos: tcpUDP, Families: both, PrivLen: 16, Policies: policy("nsrexec", 8, 300), Port: 7937,
		Doc: "NetWorker: nsrexec stderr connection (7937) and its portmapper's ports (7938)", NewParser: nsrexec.New},
	cthelper.Spec{Name: "rpc", Protos: tcpUDP, Families: both, PrivLen: 16, Policies: policy("rpc", 1, 300), Port: 111,
		Doc: "ONC RPC portmapper: connections to the ports GETPORT returns", NewParser: rpc.New},
	cthelper.Spec{Name: "rsh", Protos: tcp, Families: both, PrivLen: 0, Policies: policy("rsh", 1, 120), Port: 514,
		Doc: "rsh: the stderr connection back to the client", NewParser: rsh.New},
	cthelper.Spec{Name: "sane", Protos: tcp, Families: both, PrivLen: 4, Policies: policy("sane", 1, 300), Port: 6566,
		Doc: "SANE network scanning: the data connection", NewParser: sane.New},
	cthelper.Spec{Name: "slp", Protos: udp, Families: both, PrivLen: 0, Policies: policy("slp", 8, 16), Port: 427,
		Doc: "Service Location Protocol: unicast answers to multicast requests", NewParser: slp.New},
	cthelper.Spec{Name: "ssdp", Protos: tcpUDP, Families: both, PrivLen: 0, Policies: policy("ssdp", 8, 300), Port: 1900,
		Doc: "SSDP/UPnP: search answers, LOCATION and event callbacks", NewParser: ssdp.New},
	cthelper.Spec{Name: "tftp", Protos: udp, Families: both, PrivLen: 0, Policies: policy("tftp", 1, 300), Port: 69,
		Doc: "TFTP: the server's transfer connection", NewParser: tftp.New},
	cthelper.Spec{Name: "tns", Protos: tcp, Families: both, PrivLen: 1, Policies: policy("tns", 1, 300), Port: 1521,
		Doc: "Oracle TNS: REDIRECT to another host and port", NewParser: tns.New},
)
