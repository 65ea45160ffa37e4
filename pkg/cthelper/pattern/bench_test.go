package pattern

import (
	"runtime"
	"testing"

	"github.com/gonfct/gonfct/docs/examples/helper/lobby"
	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/internal/pcaptest"
	"golang.org/x/sys/unix"
)

// BenchmarkLobbyCapture: the per-packet cost of the pattern helper against
// the hand-written Go parser of docs/examples on the same capture (every
// packet with a payload, TCP and UDP, as pcaptest.Bench replays it). Next
// to the wall time it reports the thread's CPU time per packet, which a
// machine busy with other work inflates far less.
func BenchmarkLobbyCapture(b *testing.B) {
	frames := pcaptest.Read(b, lobbyCapture)
	for _, bc := range []struct {
		name    string
		parser  cthelper.Parser
		privLen int
	}{
		{"pattern", mustNew(b, nil, lobbyRule), PrivLen},
		{"go", lobby.Parser{}, lobby.PrivLen},
	} {
		b.Run(bc.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			start := threadCPU(b)
			pcaptest.Bench(b, bc.parser, bc.privLen, frames)
			b.ReportMetric(float64(threadCPU(b)-start)/float64(b.N)/float64(countPayloads(frames)), "cpu-ns/packet")
		})
	}
}

// threadCPU is the CPU time the calling thread has used, in nanoseconds.
func threadCPU(b *testing.B) int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func countPayloads(frames []pcaptest.Frame) int {
	n := 0
	for _, f := range frames {
		if len(f.Payload) > 0 {
			n++
		}
	}
	return n
}

// BenchmarkParse: one control segment at a line start, with the result
// reused.
func BenchmarkParse(b *testing.B) {
	data := Rule{Expr: `^DATA (?P<addr>\S+) (?P<port>\d+)$`}
	for _, bc := range []struct {
		name  string
		rules []Rule
		nat   bool
		step  string
	}{
		{"lobby-MATCH", []Rule{lobbyRule}, false, "r:MATCH 40123\r\n"},
		{"lobby-other", []Rule{lobbyRule}, false, "r:WELCOME to the lobby, 12 players online\r\n"},
		{"DATA", []Rule{data}, false, "o:DATA 10.9.0.2 40001\r\n"},
		{"DATA-NAT", []Rule{data}, true, "o:DATA 10.9.0.2 40001\r\n"},
		{"unanchored-other", []Rule{{Expr: `PORT=(?P<port>\d+)`}}, false, "o:SAY a line of chat text without the keyword\r\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := mustNew(b, nil, bc.rules...)
			c := newConn(unix.IPPROTO_TCP, client4, server4)
			if bc.nat {
				c.snat(public4)
			}
			p := c.step(bc.step)
			r := &cthelper.Result{}
			b.ReportAllocs()
			b.SetBytes(int64(len(p.Payload)))
			for b.Loop() {
				clear(p.Priv) // each packet the first of its direction
				r.Reset()
				_ = h.Parse(p, r)
			}
		})
	}
}
