package options

import (
	"strings"
	"testing"

	"github.com/gonfct/gonfct/pkg/cthelper"
)

func TestOptions(t *testing.T) {
	if err := Check("rsh", cthelper.Options{"range": "1-2"}, "range", "ports"); err != nil {
		t.Error(err)
	}
	err := Check("rsh", cthelper.Options{"rnage": "1-2"}, "range", "ports")
	if err == nil || !strings.Contains(err.Error(), `unknown option "rnage": known options are range, ports`) {
		t.Errorf("Check: %v", err)
	}
	if err := Check("tftp", cthelper.Options{"x": ""}); err == nil || !strings.Contains(err.Error(), "takes no options") {
		t.Errorf("Check without options: %v", err)
	}
	lo, hi, err := Range("rsh", cthelper.Options{"range": "1023-600"}, "range", 512, 1023)
	if err != nil || lo != 600 || hi != 1023 {
		t.Errorf("Range = %d %d %v", lo, hi, err)
	}
	if _, _, err := Range("rsh", cthelper.Options{"range": "0-5"}, "range", 1, 2); err == nil {
		t.Error("Range accepted port 0")
	}
	p, err := Ports("rsh", cthelper.Options{"ports": "7937, 7938,7937"}, "ports", nil)
	if err != nil || len(p) != 2 || p[0] != 7937 || p[1] != 7938 {
		t.Errorf("Ports = %v %v", p, err)
	}
	if _, err := Ports("rsh", cthelper.Options{"ports": "70000"}, "ports", nil); err == nil {
		t.Error("Ports accepted 70000")
	}
	if b, err := Bool("tns", cthelper.Options{"loose": "yes"}, "loose", false); !b || err != nil {
		t.Errorf("Bool = %v %v", b, err)
	}
	if _, err := Bool("tns", cthelper.Options{"loose": "maybe"}, "loose", false); err == nil {
		t.Error("Bool accepted maybe")
	}
}
