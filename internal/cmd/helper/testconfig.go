package helper

import (
	"slices"
	"strings"

	"github.com/gonfct/gonfct/internal/cli"
	"github.com/gonfct/gonfct/internal/config"
	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/replay"
)

// configHelper is what `helper test NAME --config FILE` replays: the
// file's Type blocks of NAME, each family and protocol with its own
// parser (the file's options, then --option's), as `gonfct run --config`
// would serve them.
func configHelper(file, name string, extra cthelper.Options) (replay.Helper, error) {
	cfg, err := config.Load(file)
	if err != nil {
		return replay.Helper{}, cli.Input(err)
	}
	h := replay.Helper{Name: name}
	parsers := byTuple{}
	var declared []string
	for i := range cfg.Helpers {
		b := &cfg.Helpers[i]
		if !slices.Contains(declared, b.Name) {
			declared = append(declared, b.Name)
		}
		if b.Name != name {
			continue
		}
		for k, v := range extra {
			b.Options[k] = v
		}
		p, err := b.NewParser()
		if err != nil {
			return h, cli.Usagef("%s: %v", b.Pos, err)
		}
		parsers[[2]uint8{b.Family, b.Proto}] = p
		h.PrivLen = max(h.PrivLen, int(b.PrivLen))
		if !slices.Contains(h.Families, b.Family) {
			h.Families = append(h.Families, b.Family)
		}
		if !slices.Contains(h.Protos, b.Proto) {
			h.Protos = append(h.Protos, b.Proto)
		}
		if b.Spec.Port != 0 && len(h.Ports) == 0 {
			h.Ports = []uint16{b.Spec.Port}
		}
		if h.Timeout == 0 && len(b.Policies) > 0 {
			h.Timeout = b.Policies[0].ExpectTimeout
		}
	}
	switch len(parsers) {
	case 0:
		return h, cli.Usagef("%s declares no helper %q (it declares %s)", file, name, strings.Join(declared, ", "))
	case 1:
		for _, p := range parsers {
			h.Parser = p
		}
	default:
		h.Parser = parsers
	}
	return h, nil
}

// byTuple hands each packet to the parser of its family and protocol's
// Type block; a packet of a pair the file does not declare (inet tcp and
// inet6 udp declared, inet6 tcp seen) is left alone.
type byTuple map[[2]uint8]cthelper.Parser

func (b byTuple) Parse(p *cthelper.Packet, r *cthelper.Result) error {
	if ps, ok := b[[2]uint8{p.Family, p.Proto}]; ok {
		return ps.Parse(p, r)
	}
	return nil
}
