// Command nfqdump prints the attributes of the first -n packet messages
// queued to NFQUEUE 7 (bound with the conntrack glue) as hex, one line
// each, and accepts every packet until it is killed. It is capture.sh's
// tool, run as root in the VM.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"

	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/nfq"
)

func main() {
	n := flag.Int("n", 8, "packets to print")
	flag.Parse()
	c, err := ctnl.Dial(ctnl.DialOptions{})
	if err != nil {
		log.Fatal(err)
	}
	q, err := nfq.Bind(c, nfq.Config{Num: 7, Conntrack: true})
	if err != nil {
		log.Fatal(err)
	}
	var v nfq.Verdict
	for printed := 0; ; {
		err := q.Conn().Receive(context.Background(), func(m ctnl.Message) error {
			var p nfq.Packet
			if p.Decode(m) != nil {
				return nil
			}
			if printed < *n {
				fmt.Printf("%x\n", m.Attrs)
				printed++
			}
			v.Start(p.Queue, p.ID, nfq.Accept)
			return q.Send(&v)
		})
		if err != nil {
			log.Fatal(err)
		}
	}
}
