package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParse: any file gives a config or one positioned, one-line error.
func FuzzParse(f *testing.F) {
	for _, path := range []string{"testdata/conntrackd-helper.conf", "../../docs/examples/helpers.conf"} {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("Helper { Type ftp inet tcp { Policy ftp { ExpectMax 1 } Option loose yes } }")
	f.Add(`Sync { Mode FTFW { } } Helper { Setup on Type "tftp" inet6 udp { QueueNum 3 } }`)
	f.Add(`Helper { Type lobby inet tcp { Policy l { ExpectMax 4 } Pattern "^MATCH (?P<port>[0-9]+)$" { Direction reply Expect udp Lines no } } }`)
	reg := testRegistry()
	f.Fuzz(func(t *testing.T, src string) {
		cfg, err := ParseWith(reg, "f.conf", strings.NewReader(src))
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %q is not positioned", err)
			}
			list := ErrorList{ce}
			errors.As(err, &list)
			if len(list) > maxErrors+1 {
				t.Fatalf("%d errors, above the cap", len(list))
			}
			for _, ce := range list {
				if ce.Pos.Line < 1 || ce.Pos.Col < 1 || strings.Contains(ce.Msg, "\n") && !strings.Contains(src, "\n") {
					t.Fatalf("error %q in %q", ce, err)
				}
			}
			return
		}
		queues := map[uint32]bool{}
		for _, h := range cfg.Helpers {
			if queues[h.QueueNum] || h.Spec == nil || len(h.Policies) == 0 || h.Options == nil {
				t.Fatalf("helper %+v", h)
			}
			queues[h.QueueNum] = true
			obj := h.Object()
			if err := obj.Validate(); err != nil {
				t.Fatalf("loaded helper fails the kernel's limits: %v", err)
			}
		}
	})
}

// FuzzParseHelperFlag: any flag gives a helper the kernel accepts or a
// positioned error.
func FuzzParseHelperFlag(f *testing.F) {
	f.Add("ftp:inet:tcp:queue=3:queuelen=10:policy=ftp/2/600:loose=yes")
	f.Add("multi:inet:udp:policy=two/9/:policy=one//8")
	f.Add("lobby:inet:tcp:queue=7:direction=reply:expect=udp:pattern=^MATCH (?P<port>[0-9]+)")
	reg := testRegistry()
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHelperFlagWith(reg, s)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.Pos.Col < 1 || ce.Pos.Col > len(s)+1 {
				t.Fatalf("error %q", err)
			}
			return
		}
		obj := h.Object()
		if err := obj.Validate(); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
	})
}
