package pattern

import (
	"regexp"
	"regexp/syntax"
	"testing"
)

// sameAsRegexp checks the matcher against Go's regexp on one input: the
// same verdict, and the same positions for the first three groups,
// whatever their names (the matcher carries three).
func sameAsRegexp(t *testing.T, expr string, input []byte) {
	t.Helper()
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return
	}
	p := &program{slots: make([]int8, 2*(re.MaxCap()+1))}
	for i := range p.slots {
		p.slots[i] = -1
		if g := i / 2; g >= 1 && g <= nslots/2 {
			p.slots[i] = int8(i - 2)
		}
	}
	if p.build(re) != nil {
		return
	}
	std := regexp.MustCompile(expr)
	m := newMachine(len(p.insts))
	got := m.run(p, input)
	want := std.FindSubmatchIndex(input)
	if got != (want != nil) {
		t.Fatalf("%q on %q: matched %v, regexp says %v", expr, input, got, want)
	}
	for g := 1; got && g <= min(nslots/2, std.NumSubexp()); g++ {
		s := 2*g - 2
		if int(m.match[s]) != want[2*g] || int(m.match[s+1]) != want[2*g+1] {
			t.Fatalf("%q on %q: group %d at %d-%d, regexp says %d-%d", expr, input, g, m.match[s], m.match[s+1], want[2*g], want[2*g+1])
		}
	}
}

// Leftmost-first submatches where greed, alternation order, anchors and
// word boundaries decide, and inputs with invalid UTF-8.
func TestMatchAgreesWithRegexp(t *testing.T) {
	exprs := []string{
		`^MATCH (?P<port>[0-9]+)\r?$`,
		`(?P<port>\d+)`,
		`(?P<port>\d*?)(?P<addr>\d+)`,
		`(?i)port=(?P<port>[0-9]+)`,
		`(?:a|ab)(?P<port>b*)`,
		`(?P<addr>[0-9.]+|[0-9a-f:]+) (?P<port>\d+)$`,
		`\b(?P<port>\d+)\b`,
		`(?m)^DATA (?P<addr>\S+) (?P<port>\d+)$`,
		`(?s)x.(?P<port_hi>\d+),(?P<port_lo>\d+)`,
		`(?P<port>(?:\d{1,5}))?z`,
		`é(?P<port>.)`,
		`(?P<port>[^\n]*)\z`,
	}
	inputs := []string{
		"", "MATCH 40123", "MATCH 40123\r", "xMATCH 1", "port=5 PORT=6", "ab", "abbb", "10.0.0.2 40001",
		"2001:db8::1 7", "a 12 b", "DATA 1.2.3.4 5\nDATA 6.7.8.9 10", "x\n1,2", "xy3,4", "123z", "z",
		"é1", "\xffé\xfe2", "\xe9x", "line\nnext", "99999z", "12345678",
	}
	for _, e := range exprs {
		for _, in := range inputs {
			sameAsRegexp(t, e, []byte(in))
		}
	}
}

// FuzzMatch: for any pattern that compiles and any input, the matcher and
// Go's regexp agree on the match and on the groups' positions.
func FuzzMatch(f *testing.F) {
	f.Add(`^MATCH (?P<port>[0-9]+)\r?$`, []byte("MATCH 40123\r"))
	f.Add(`DATA (?P<addr>[0-9.]+) (?P<port>\d+)`, []byte("xx DATA 10.0.0.2 40001"))
	f.Add(`(?P<port_hi>\d+),(?P<port_lo>\d+)\)`, []byte("227 (10,0,0,1,195,80)"))
	f.Add(`(a*)*(?P<port>b|bb)\b`, []byte("aaabb b"))
	f.Add(`^A(?P<port>B)(?m)^C\b`, []byte("ABC"))
	f.Fuzz(func(t *testing.T, expr string, input []byte) {
		if len(expr) > 200 {
			return
		}
		sameAsRegexp(t, expr, input)
	})
}
