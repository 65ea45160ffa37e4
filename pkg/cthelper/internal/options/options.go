// Package options validates a helper's options (cthelper.Options) with one
// clear error per mistake, naming the helper, the option and the fix.
package options

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gonfct/gonfct/pkg/cthelper"
)

// Check fails on an option the helper does not know.
func Check(helper string, o cthelper.Options, known ...string) error {
	names := make([]string, 0, len(o))
	for k := range o {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !slices.Contains(known, k) {
			if len(known) == 0 {
				return fmt.Errorf("helper %s: unknown option %q: it takes no options", helper, k)
			}
			return fmt.Errorf("helper %s: unknown option %q: known options are %s", helper, k, strings.Join(known, ", "))
		}
	}
	return nil
}

// Bool reads a yes/no option; def when absent.
func Bool(helper string, o cthelper.Options, name string, def bool) (bool, error) {
	v, ok := o[name]
	if !ok {
		return def, nil
	}
	switch strings.ToLower(v) {
	case "", "yes", "on", "true", "1":
		return true, nil
	case "no", "off", "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("helper %s: option %s=%q: use yes or no", helper, name, v)
}

// Port parses one port number 1..65535.
func Port(helper, name, v string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("helper %s: option %s: %q is not a port number (1-65535)", helper, name, v)
	}
	return uint16(n), nil
}

// Ports reads a comma-separated list of ports; def when absent.
func Ports(helper string, o cthelper.Options, name string, def []uint16) ([]uint16, error) {
	v, ok := o[name]
	if !ok {
		return def, nil
	}
	var out []uint16
	for _, f := range strings.Split(v, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		p, err := Port(helper, name, f)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("helper %s: option %s is empty: give ports as a comma-separated list, e.g. %s=1,2", helper, name, name)
	}
	return out, nil
}

// Range reads a port range LOW-HIGH (either order); lo, hi when absent.
func Range(helper string, o cthelper.Options, name string, lo, hi uint16) (uint16, uint16, error) {
	v, ok := o[name]
	if !ok {
		return lo, hi, nil
	}
	a, b, found := strings.Cut(v, "-")
	if !found {
		b = a
	}
	pa, err := Port(helper, name, a)
	if err != nil {
		return 0, 0, fmt.Errorf("helper %s: option %s=%q: give a port range LOW-HIGH, e.g. %s=512-1023", helper, name, v, name)
	}
	pb, err := Port(helper, name, b)
	if err != nil {
		return 0, 0, fmt.Errorf("helper %s: option %s=%q: give a port range LOW-HIGH, e.g. %s=512-1023", helper, name, v, name)
	}
	if pa > pb {
		pa, pb = pb, pa
	}
	return pa, pb, nil
}
