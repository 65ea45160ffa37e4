// Package lobby is the worked example of docs/writing-a-helper.md: a
// conntrack helper for "lobby", a small line-based game-lobby protocol.
//
// A client connects to the lobby server's TCP port 7777 and asks to join a
// match; the server answers with the UDP port of the match on the same
// host, and the client then sends its game traffic there:
//
//	client: JOIN alice\r\n
//	server: MATCH 40123\r\n
//	client → server UDP 40123 ...
//
// A firewall that drops by default lets the UDP flow in only as RELATED to
// the lobby connection, which is what this helper arranges: on a MATCH line
// from the server, after the client sent JOIN on the same connection, it
// expects a UDP connection from the client's address (any source port) to
// the server's address and the announced port.
//
// The private data (one byte per conntrack, zeroed by the kernel) records
// that the client sent JOIN, so a server cannot open ports for a client
// that never asked.
package lobby

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"golang.org/x/sys/unix"
)

// The helper's defaults, for its registry line (see Spec).
const (
	Name    = "lobby"
	Port    = 7777
	PrivLen = 1
)

// Spec is the helper's registry entry: one line in
// pkg/cthelper/builtin makes it a built-in helper of gonfct.
var Spec = cthelper.Spec{
	Name: Name, Protos: []uint8{unix.IPPROTO_TCP}, Families: []uint8{unix.AF_INET, unix.AF_INET6},
	PrivLen: PrivLen, Policies: []cthelper.Policy{{Name: Name, ExpectMax: 1, ExpectTimeout: 60}},
	Port: Port, Doc: "lobby game server: the match's UDP port",
	NewParser: New,
}

// Private data states (byte 0).
const (
	stateIdle   = 0
	stateJoined = 1
)

var (
	errBadPort = errors.New("lobby: MATCH without a port from 1 to 65535")
	errNoEOL   = errors.New("lobby: MATCH line not terminated")
)

// Parser is the lobby helper; it has no options.
type Parser struct{}

// New checks the options (lobby takes none) and returns the parser.
func New(opts cthelper.Options) (cthelper.Parser, error) {
	for k := range opts {
		return nil, fmt.Errorf("lobby: unknown option %q (lobby has none)", k)
	}
	return Parser{}, nil
}

var (
	join  = []byte("JOIN ")
	match = []byte("MATCH ")
)

// Parse implements cthelper.Parser. It allocates nothing.
func (Parser) Parse(p *cthelper.Packet, r *cthelper.Result) error {
	if len(p.Priv) < PrivLen || len(p.Payload) == 0 {
		return nil
	}
	if p.Dir == cthelper.Original {
		if bytes.HasPrefix(p.Payload, join) && p.Priv[0] != stateJoined {
			p.Priv[0] = stateJoined
			r.PrivChanged = true
		}
		return nil
	}
	if p.Priv[0] != stateJoined || !bytes.HasPrefix(p.Payload, match) {
		return nil
	}
	rest := p.Payload[len(match):]
	port, n := 0, 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' && n < 6 {
		port = port*10 + int(rest[n]-'0')
		n++
	}
	if n == 0 || port < 1 || port > 65535 {
		return errBadPort
	}
	if eol := rest[n:]; !bytes.HasPrefix(eol, []byte("\r\n")) && !bytes.HasPrefix(eol, []byte("\n")) {
		return errNoEOL
	}
	// The expected flow goes from the client to the server, as the master
	// does: the master's original source and its reply source (the real
	// server, after any destination NAT).
	r.AddExpect(cthelper.Expect{
		Proto:      unix.IPPROTO_UDP,
		Src:        p.Orig.Src,
		AnySrcPort: true,
		Dst:        p.Reply.Src,
		DstPort:    uint16(port),
	})
	return nil
}
