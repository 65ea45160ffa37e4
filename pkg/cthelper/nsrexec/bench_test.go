package nsrexec

import (
	"path/filepath"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper/internal/pcaptest"
)

// The rsh and rpc captures with their server port moved to NetWorker's,
// as in TestBothSides, through the parser alone.
func BenchmarkCaptures(b *testing.B) {
	for _, c := range []struct {
		file     string
		from, to uint16
	}{
		{"rsh/testdata/rsh4.pcap", 514, DefaultPort},
		{"rpc/testdata/getport-udp.pcap", 111, DefaultRPCPort},
	} {
		b.Run(filepath.Base(c.file), func(b *testing.B) {
			p, err := New(nil)
			if err != nil {
				b.Fatal(err)
			}
			frames := pcaptest.Read(b, filepath.Join("..", c.file))
			for i := range frames {
				if frames[i].SrcPort == c.from {
					frames[i].SrcPort = c.to
				}
				if frames[i].DstPort == c.from {
					frames[i].DstPort = c.to
				}
			}
			pcaptest.Bench(b, p, PrivLen, frames)
		})
	}
}
