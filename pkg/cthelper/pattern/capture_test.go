package pattern

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/docs/examples/helper/lobby"
	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/replay"
	"golang.org/x/sys/unix"
)

// lobbyCapture is the worked example's capture: a lobby session over IPv4
// and one over IPv6, each with its UDP flow.
const lobbyCapture = "../../../docs/examples/helper/lobby/testdata/lobby.pcap"

// lobbyRule is the example's helper as a pattern (the Pattern block of
// docs/writing-a-helper.md).
var lobbyRule = Rule{Expr: lobbyExpr, Dir: DirReply, Expect: unix.IPPROTO_UDP}

// replayLobby replays the capture through parser as `gonfct helper test`
// does, and lists the expectations.
func replayLobby(t *testing.T, parser cthelper.Parser, privLen int) []string {
	t.Helper()
	return replayLobbyAs(t, replay.Helper{Name: "lobby", Parser: parser, PrivLen: privLen, Protos: []uint8{unix.IPPROTO_TCP}, Ports: []uint16{lobby.Port}, Timeout: 60})
}

func replayLobbyAs(t *testing.T, h replay.Helper) []string {
	t.Helper()
	b, err := os.ReadFile(lobbyCapture)
	if err != nil {
		t.Fatal(err)
	}
	frames, err := replay.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	replay.Run(frames, h, func(e replay.Event) {
		if e.Kind != replay.KindExpect {
			t.Errorf("packet %d: %s %s", e.Packet, e.Kind, e.Err)
			return
		}
		got = append(got, fmt.Sprintf("packet %d: %s", e.Packet, e.Expect.AppendText(nil)))
	})
	return got
}

// The capture gives the same expectations through the pattern helper as
// through the hand-written Go parser.
func TestLobbyCaptureSameAsGo(t *testing.T) {
	want := replayLobby(t, lobby.Parser{}, lobby.PrivLen)
	got := replayLobby(t, mustNew(t, nil, lobbyRule), PrivLen)
	if len(want) != 2 || !slices.Equal(got, want) {
		t.Errorf("pattern helper:\n%q\nGo parser:\n%q", got, want)
	}
}

// A helper from the config file has no well-known port: `helper test`
// replays every flow of its protocol, over the families it is declared
// for.
func TestLobbyCaptureAnyPort(t *testing.T) {
	h := replay.Helper{Name: "lobby", Parser: mustNew(t, nil, lobbyRule), PrivLen: PrivLen, Protos: []uint8{unix.IPPROTO_TCP}}
	if got := replayLobbyAs(t, h); len(got) != 2 {
		t.Errorf("any port, any family: %q", got)
	}
	h.Families = []uint8{unix.AF_INET6}
	if got := replayLobbyAs(t, h); len(got) != 1 || !strings.Contains(got[0], "fd57::1") {
		t.Errorf("IPv6 only: %q", got)
	}
}
