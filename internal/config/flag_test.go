package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"golang.org/x/sys/unix"
)

func TestParseHelperFlag(t *testing.T) {
	reg := testRegistry()
	for _, tc := range []struct {
		in   string
		want Helper
	}{
		{"ftp:inet:tcp", Helper{Name: "ftp", Family: unix.AF_INET, Proto: unix.IPPROTO_TCP, PrivLen: 24,
			Policies: []cthelper.Policy{{Name: "ftp", ExpectMax: 1, ExpectTimeout: 300}}, Options: cthelper.Options{}}},
		{"ftp:inet6:tcp:queue=3:queuelen=2048:policy=ftp/2/600:loose=yes", Helper{Name: "ftp", Family: unix.AF_INET6, Proto: unix.IPPROTO_TCP,
			QueueNum: 3, QueueLen: 2048, PrivLen: 24,
			Policies: []cthelper.Policy{{Name: "ftp", ExpectMax: 2, ExpectTimeout: 600}}, Options: cthelper.Options{"loose": "yes"}}},
		{"ftp:inet:tcp:policy=ftp//600", Helper{Name: "ftp", Family: unix.AF_INET, Proto: unix.IPPROTO_TCP, PrivLen: 24,
			Policies: []cthelper.Policy{{Name: "ftp", ExpectMax: 1, ExpectTimeout: 600}}, Options: cthelper.Options{}}},
		{"ftp:inet:tcp:policy=ftp/0", Helper{Name: "ftp", Family: unix.AF_INET, Proto: unix.IPPROTO_TCP, PrivLen: 24,
			Policies: []cthelper.Policy{{Name: "ftp", ExpectMax: 0, ExpectTimeout: 300}}, Options: cthelper.Options{}}},
		{"multi:inet:udp:policy=two/9/:policy=one//8:queue=65535", Helper{Name: "multi", Family: unix.AF_INET, Proto: unix.IPPROTO_UDP, QueueNum: 65535,
			Policies: []cthelper.Policy{{Name: "one", ExpectMax: 1, ExpectTimeout: 8}, {Name: "two", ExpectMax: 9, ExpectTimeout: 20}}, Options: cthelper.Options{}}},
	} {
		h, err := ParseHelperFlagWith(reg, tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if h.Spec == nil || h.Spec.Name != tc.want.Name || h.Pos != (Position{File: "--helper " + tc.in, Col: 1}) {
			t.Errorf("%s: spec %v pos %v", tc.in, h.Spec, h.Pos)
		}
		h.Spec, h.Pos = nil, Position{}
		if !reflect.DeepEqual(h, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.in, h, tc.want)
		}
	}
}

func TestParseHelperFlagErrors(t *testing.T) {
	reg := testRegistry()
	for _, tc := range []struct{ in, want string }{
		{"", "(column 1): expected NAME:FAMILY:PROTO"},
		{"ftp", "--helper ftp (column 4): expected NAME:FAMILY:PROTO"},
		{"ftp:inet", "(column 9): expected NAME:FAMILY:PROTO"},
		{"nope:inet:tcp", `(column 1): unknown helper "nope"`},
		{"rsh:inet:tcp", `(column 1): helper "rsh" has no parser in this build`},
		{"0123456789abcdef:inet:tcp", `(column 1): helper name "0123456789abcdef" is 16 bytes long`},
		{"ftp:ip:tcp", `(column 5): unknown family "ip": write inet or inet6`},
		{"ftp:inet:sctp", `(column 10): unknown protocol "sctp": write tcp or udp`},
		{"ftp:inet:udp", `(column 10): helper ftp does not work over udp`},
		{"dhcpv6:inet:udp", `(column 8): helper dhcpv6 does not work over inet`},
		{"ftp:inet:tcp:queue", `(column 14): "queue" is not KEY=VALUE`},
		{"ftp:inet:tcp:=1", `(column 14): "=1" is not KEY=VALUE`},
		{"ftp:inet:tcp:queue=x", `--helper ftp:inet:tcp:queue=x (column 20): queue "x" is not a number from 0 to 65535`},
		{"ftp:inet:tcp:queue=65536", `(column 20): queue "65536" is not a number from 0 to 65535`},
		{"ftp:inet:tcp:queue=1:queue=2", `(column 22): queue is given twice`},
		{"ftp:inet:tcp:queuelen=-1", `(column 23): queuelen "-1" is not a number`},
		{"ftp:inet:tcp:policy=ftp", `(column 21): policy "ftp" is not NAME/MAX/TIMEOUT`},
		{"ftp:inet:tcp:policy=ftp/1/2/3", `(column 21): policy "ftp/1/2/3" is not NAME/MAX/TIMEOUT`},
		{"ftp:inet:tcp:policy=ftp//", `(column 21): policy "ftp//" sets nothing`},
		{"ftp:inet:tcp:policy=tftp/1/1", `(column 21): helper ftp has no policy "tftp": its policies are ftp`},
		{"ftp:inet:tcp:policy=ftp/256/1", `(column 25): policy ftp: ExpectMax "256" is not a number from 0 to 255`},
		{"ftp:inet:tcp:policy=ftp/1/x", `(column 27): policy ftp: ExpectTimeout "x" is not a duration`},
		{"ftp:inet:tcp:policy=ftp/1/1:policy=ftp/2/2", `(column 36): policy ftp is given twice`},
		{"ftp:inet:tcp:loose=maybe", `(column 14): helper ftp: option loose: "maybe" is not yes, no, on or off`},
		{"ftp:inet:tcp:loose=yes:lose=yes", `(column 24): helper ftp: unknown option "lose"`},
		{"ftp:inet:tcp:loose=yes:loose=no", `(column 24): loose is given twice`},
	} {
		_, err := ParseHelperFlagWith(reg, tc.in)
		if err == nil {
			t.Errorf("%q: no error, want %q", tc.in, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "--helper "+tc.in+" (column ") {
			t.Errorf("%q:\n got %q\nwant %q", tc.in, err, tc.want)
		}
		var ce *Error
		if !errors.As(err, &ce) || ce.Pos.Line != 0 {
			t.Errorf("%q: %v is not a positioned *Error", tc.in, err)
		}
	}
}

// The flag and the file give the same Helper for the same settings.
func TestFlagMatchesFile(t *testing.T) {
	reg := testRegistry()
	h, err := ParseHelperFlagWith(reg, "ftp:inet6:tcp:queue=9:queuelen=100:policy=ftp/4/60:loose=no")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseWith(reg, "f", strings.NewReader(`Helper { Type ftp inet6 tcp {
		QueueNum 9 QueueLen 100 Policy ftp { ExpectMax 4 ExpectTimeout 60 } Option loose no } }`))
	if err != nil {
		t.Fatal(err)
	}
	f := cfg.Helpers[0]
	h.Pos, f.Pos = Position{}, Position{}
	if !reflect.DeepEqual(h, f) {
		t.Errorf("flag %+v\nfile %+v", h, f)
	}
	if got := f.String(); got != "ftp:inet6:tcp:queue=9:queuelen=100:policy=ftp/4/60:loose=no" {
		t.Errorf("String() = %q", got)
	}
}
