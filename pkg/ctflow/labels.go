package ctflow

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// ConnlabelConf is where label bits get names, for iptables' connlabel
// match, nft and conntrack(8) alike: one "BIT NAME" a line, # comments.
const ConnlabelConf = "/etc/xtables/connlabel.conf"

// ParseConnlabels reads the names of a connlabel.conf.
func ParseConnlabels(data string) map[string]int {
	m := map[string]int{}
	for _, line := range strings.Split(data, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && !strings.HasPrefix(f[0], "#") {
			if n, err := strconv.Atoi(f[0]); err == nil {
				m[f[1]] = n
			}
		}
	}
	return m
}

// ParseLabels reads label bits from words, each a comma-separated list of
// bit numbers (0-127) or names from the connlabel.conf at conf, read only
// if a name is met (a missing file names nothing).
func ParseLabels(words []string, conf string) ([LabelsLen]byte, error) {
	var bits [LabelsLen]byte
	var names map[string]int
	for _, v := range words {
		for _, w := range strings.Split(v, ",") {
			w = strings.TrimSpace(w)
			if w == "" {
				continue
			}
			n, err := strconv.Atoi(w)
			if err != nil {
				if names == nil {
					b, err := os.ReadFile(conf)
					if err != nil && !errors.Is(err, fs.ErrNotExist) {
						return bits, fmt.Errorf("label names: %w", err)
					}
					names = ParseConnlabels(string(b))
				}
				var ok bool
				if n, ok = names[w]; !ok {
					return bits, fmt.Errorf("label %q: want a bit number 0-127 or a name from %s", w, conf)
				}
			}
			if n < 0 || n >= LabelsLen*8 {
				return bits, fmt.Errorf("label %d: want a bit number 0-127", n)
			}
			bits[n/8] |= 1 << (n % 8)
		}
	}
	return bits, nil
}

// appendLabelNames appends "labels=A,B " for the set label bits that have
// names, lowest bit first; nothing if none has.
func (f *Flow) appendLabelNames(b []byte, names map[int]string) []byte {
	n := 0
	for bit := 0; bit < LabelsLen*8; bit++ {
		if f.Labels[bit/8]&(1<<(bit%8)) == 0 {
			continue
		}
		name, ok := names[bit]
		if !ok {
			continue
		}
		if n == 0 {
			b = append(b, "labels="...)
		} else {
			b = append(b, ',')
		}
		b = append(b, name...)
		n++
	}
	if n > 0 {
		b = append(b, ' ')
	}
	return b
}
