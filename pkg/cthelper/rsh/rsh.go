// Package rsh is the BSD rsh helper (TCP 514): the first thing the client
// sends is the port it listens on for the command's standard error, in
// ASCII decimal ended by a NUL ("0" for none); the server then connects
// from its side to that port.
//
// On a client segment that starts with 1-5 digits and a NUL, the helper
// expects a TCP connection from the server, any source port, to the
// client on that port, if the port is in the allowed range or among the
// extra ports (options below). With NAT the expected connection follows
// the master's translation back to the client's own address. The helper
// keeps no private data, so it cannot tell the first segment from later
// standard input that happens to look the same: such input can only ask
// for a connection from the server to the client itself.
//
// Options:
//
//	range=LOW-HIGH   stderr ports accepted (default 512-1023: BSD rsh
//	                 takes its stderr port from rresvport, 1023 down to 512)
//	ports=P,Q,...    further stderr ports accepted
package rsh

import (
	"errors"
	"slices"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/ascii"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/options"
	"golang.org/x/sys/unix"
)

// PrivLen: rsh keeps no private data.
const PrivLen = 0

// DefaultRange is BSD rsh's stderr port range.
const (
	DefaultLow  = 512
	DefaultHigh = 1023
)

// ErrPortRefused is returned (and counted by the engine) when a client asks
// for a stderr port outside the allowed range and extra ports.
var ErrPortRefused = errors.New("rsh: stderr port outside the allowed range (see the helper's range= and ports= options)")

// Parser is the rsh helper.
type Parser struct {
	low, high uint16
	extra     []uint16
}

// New reads the options range= and ports= and returns the parser.
func New(opts cthelper.Options) (cthelper.Parser, error) {
	return NewNamed("rsh", opts, DefaultLow, DefaultHigh)
}

// NewNamed builds an rsh-style parser for a helper of another name (nsrexec)
// with its own default range; it knows the options range and ports.
func NewNamed(name string, opts cthelper.Options, low, high uint16, known ...string) (*Parser, error) {
	if err := options.Check(name, opts, append([]string{"ports", "range"}, known...)...); err != nil {
		return nil, err
	}
	lo, hi, err := options.Range(name, opts, "range", low, high)
	if err != nil {
		return nil, err
	}
	extra, err := options.Ports(name, opts, "ports", nil)
	if err != nil {
		return nil, err
	}
	return &Parser{low: lo, high: hi, extra: extra}, nil
}

func (s *Parser) allowed(port uint16) bool {
	return port >= s.low && port <= s.high || slices.Contains(s.extra, port)
}

// Parse implements cthelper.Parser.
func (s *Parser) Parse(p *cthelper.Packet, r *cthelper.Result) error {
	if p.Dir != cthelper.Original || p.Info != cthelper.Established || len(p.Payload) < 2 {
		return nil
	}
	v, n := ascii.Uint(p.Payload, 65535)
	if n == 0 || n > 5 || n >= len(p.Payload) || p.Payload[n] != 0 {
		return nil // not the stderr port announcement
	}
	if v == 0 {
		return nil // no stderr connection wanted
	}
	port := uint16(v)
	if !s.allowed(port) {
		return ErrPortRefused
	}
	e := cthelper.Expect{
		Proto:      unix.IPPROTO_TCP,
		Src:        p.Reply.Src,
		Dst:        p.Reply.Dst,
		AnySrcPort: true,
		DstPort:    port,
	}
	if snat, dnat := p.NATed(); snat || dnat {
		e.NAT, e.NATDir, e.NATAddr, e.NATPort = true, cthelper.Reply, p.Orig.Src, port
	}
	r.AddExpect(e)
	return nil
}
