// Package amanda is the Amanda backup helper (UDP 10080). The backup
// server asks the client's amandad for a dump; amandad's reply names the
// TCP ports the server is to connect to, on one line. Amanda 3.5 with
// auth "bsd" opens one port per stream, four of them:
//
//	CONNECT DATA 50066 MESG 50067 INDEX 50068 STATE 50069
//
// For each of DATA, MESG, INDEX and STATE present with a valid port, the
// helper expects a TCP connection from the server to the client on that
// port: every one of them, each on its own port (conntrackd and the
// kernel's helper know only the first three; conntrackd keeps only the
// last and expects the master's source port instead). With auth "bsdudp"
// amandad opens one port and multiplexes the other streams over it,
// naming them by handles counted down from 500000:
//
//	CONNECT DATA 50083 MESG 499999 INDEX 499998 STATE 499997
//
// A handle is not a port: it asks for no expectation and is no error.
// Only replies (from amandad) are read; each one stretches the master's
// timeout to MasterTimeout. The keywords are case-sensitive, as Amanda
// writes them. With NAT each expected connection follows the master's
// translation on the same port.
package amanda

import (
	"bytes"
	"errors"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/ascii"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/options"
	"golang.org/x/sys/unix"
)

// PrivLen: amanda keeps no private data.
const PrivLen = 0

// MasterTimeout is the master's timeout in seconds after each of
// amandad's replies (the kernel helper's master_timeout default and
// conntrackd's value).
const MasterTimeout = 300

var errBadPort = errors.New("amanda: CONNECT line with a port that is not 1-65535 (nor a stream handle below 500000)")

var (
	connect = []byte("CONNECT ")
	keys    = [...][]byte{[]byte("DATA "), []byte("MESG "), []byte("INDEX "), []byte("STATE ")}
)

// maxHandle bounds the stream handles of Amanda's multiplexed streams
// (security-util.c counts them down from 500000).
const maxHandle = 500000

// Parser is the amanda helper. It has no options.
type Parser struct{}

// New validates opts (amanda takes none) and returns the parser.
func New(opts cthelper.Options) (cthelper.Parser, error) {
	if err := options.Check("amanda", opts); err != nil {
		return nil, err
	}
	return Parser{}, nil
}

// Parse implements cthelper.Parser.
func (Parser) Parse(p *cthelper.Packet, r *cthelper.Result) error {
	if p.Dir != cthelper.Reply {
		return nil
	}
	// amandad may answer long after its ACK (a sendsize estimate can take
	// minutes): every reply keeps the master for MasterTimeout, as the
	// kernel's helper and conntrackd do.
	r.Timeout = MasterTimeout
	i := bytes.Index(p.Payload, connect)
	if i < 0 {
		return nil
	}
	line, _ := ascii.Line(p.Payload[i+len(connect):])
	var err error
	for _, key := range keys {
		k := indexWord(line, key)
		if k < 0 {
			continue
		}
		v, n := ascii.Uint(line[k+len(key):], maxHandle-1)
		if n == 0 || v == 0 {
			err = errBadPort
			continue
		}
		if end := k + len(key) + n; end < len(line) && line[end] != ' ' {
			err = errBadPort
			continue
		}
		if v > 65535 {
			continue // a stream multiplexed over another connection
		}
		port := uint16(v)
		if dup(r, port) {
			continue
		}
		e := cthelper.Expect{
			Proto:      unix.IPPROTO_TCP,
			Src:        p.Orig.Src,
			Dst:        p.Orig.Dst,
			AnySrcPort: true,
			DstPort:    port,
		}
		if snat, dnat := p.NATed(); snat || dnat {
			e.NAT, e.NATDir, e.NATAddr, e.NATPort = true, cthelper.Original, p.Reply.Src, port
		}
		r.AddExpect(e)
	}
	return err
}

// indexWord finds key at the start of line or after a space.
func indexWord(line, key []byte) int {
	for off := 0; ; {
		i := bytes.Index(line[off:], key)
		if i < 0 {
			return -1
		}
		if at := off + i; at == 0 || line[at-1] == ' ' {
			return at
		}
		off += i + 1
	}
}

func dup(r *cthelper.Result, port uint16) bool {
	for _, e := range r.Expects[:r.NExpects] {
		if e.DstPort == port {
			return true
		}
	}
	return false
}
