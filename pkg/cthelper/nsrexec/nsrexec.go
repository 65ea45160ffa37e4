// Package nsrexec is the Legato/EMC/Dell NetWorker helper. NetWorker's
// remote execution service (nsrexecd) listens on TCP 7937 and speaks the
// rsh protocol there: the first client data is a stderr port in ASCII
// decimal ended by a NUL, and the server connects back to it. nsrexecd
// also runs its own ONC RPC portmapper on 7938 (TCP and UDP), whose
// GETPORT answers point clients at NetWorker's RPC services.
//
// One helper named nsrexec serves both: on a connection to the nsrexec
// port it is the rsh helper, on a connection to one of the portmapper ports
// it is the rpc helper (see packages rsh and rpc for what each expects);
// connections to any other port are left alone.
//
// Options:
//
//	port=N           the nsrexec (rsh-style) port (default 7937)
//	rpc-ports=P,...  NetWorker's portmapper ports (default 7938)
//	range=LOW-HIGH   stderr ports accepted (default 1-65535: NetWorker
//	                 takes its stderr port from its own configurable
//	                 connection range, not from the reserved ports)
//	ports=P,...      further stderr ports accepted
package nsrexec

import (
	"fmt"
	"slices"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/options"
	"github.com/gonfct/gonfct/pkg/cthelper/rpc"
	"github.com/gonfct/gonfct/pkg/cthelper/rsh"
	"golang.org/x/sys/unix"
)

// PrivLen is rpc's private data (the rsh side keeps none).
const PrivLen = rpc.PrivLen

// Default ports.
const (
	DefaultPort    = 7937
	DefaultRPCPort = 7938
)

// Parser is the nsrexec helper.
type Parser struct {
	port     uint16
	rpcPorts []uint16
	rsh      *rsh.Parser
	rpc      rpc.Parser
}

// New validates the options and returns the parser.
func New(opts cthelper.Options) (cthelper.Parser, error) {
	const name = "nsrexec"
	sh, err := rsh.NewNamed(name, opts, 1, 65535, "port", "rpc-ports")
	if err != nil {
		return nil, err
	}
	port := uint16(DefaultPort)
	if v, ok := opts["port"]; ok {
		if port, err = options.Port(name, "port", v); err != nil {
			return nil, err
		}
	}
	rpcPorts, err := options.Ports(name, opts, "rpc-ports", []uint16{DefaultRPCPort})
	if err != nil {
		return nil, err
	}
	if slices.Contains(rpcPorts, port) {
		return nil, fmt.Errorf("helper %s: port %d is both the nsrexec port and a portmapper port: give them different ports", name, port)
	}
	return &Parser{port: port, rpcPorts: rpcPorts, rsh: sh}, nil
}

// Parse implements cthelper.Parser.
func (n *Parser) Parse(p *cthelper.Packet, r *cthelper.Result) error {
	server := p.Orig.DstPort
	switch {
	case slices.Contains(n.rpcPorts, server):
		return n.rpc.Parse(p, r)
	case server == n.port && p.Proto == unix.IPPROTO_TCP:
		return n.rsh.Parse(p, r)
	}
	return nil
}
