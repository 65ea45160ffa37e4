package config

import (
	"strings"
	"testing"
)

const benchFile = `General { LogFile on }
Helper {
	Type ftp inet tcp {
		QueueNum 1
		Policy ftp { ExpectMax 4 ExpectTimeout 300 }
		Option loose yes
	}
	Type ftp inet6 tcp {
		QueueNum 2
		Policy ftp { ExpectMax 4 ExpectTimeout 300 }
	}
}
`

func BenchmarkParseFile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("helpers.conf", strings.NewReader(benchFile)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseHelperFlag(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseHelperFlag("ftp:inet6:tcp:queue=2:policy=ftp//60:loose=yes"); err != nil {
			b.Fatal(err)
		}
	}
}
