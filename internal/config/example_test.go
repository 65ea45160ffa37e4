package config_test

import (
	"fmt"
	"strings"

	"github.com/gonfct/gonfct/internal/config"
)

func ExampleParse() {
	cfg, err := config.Parse("helpers.conf", strings.NewReader(`
General { LogFile on }
Helper {
	Type ftp inet tcp {
		QueueNum 1
		Policy ftp { ExpectMax 4 }
		Option loose yes
	}
}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, h := range cfg.Helpers {
		fmt.Println(h.String(), "declared at", h.Pos)
	}
	fmt.Println(cfg.Notices[0])
	// Output:
	// ftp:inet:tcp:queue=1:policy=ftp/4/300:loose=yes declared at helpers.conf:4:2
	// helpers.conf:2:1: General section ignored: gonfct reads only the Helper section
}

func ExampleParse_error() {
	_, err := config.Parse("helpers.conf", strings.NewReader("Helper {\n\tType ftp inet tcp {\n\t\tQueueNum 70000\n\t}\n}\n"))
	fmt.Println(err)
	// Output:
	// helpers.conf:3:12: QueueNum "70000" is not a number from 0 to 65535
}

func ExampleParseHelperFlag() {
	h, err := config.ParseHelperFlag("ftp:inet6:tcp:queue=2:policy=ftp//60")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(h.Name, h.QueueNum, h.Policies[0].ExpectMax, h.Policies[0].ExpectTimeout, h.PrivLen)
	_, err = config.ParseHelperFlag("ftp:inet:udp")
	fmt.Println(err)
	// Output:
	// ftp 2 1 60 24
	// --helper ftp:inet:udp (column 10): helper ftp does not work over udp: it supports tcp
}
