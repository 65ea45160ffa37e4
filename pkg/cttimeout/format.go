package cttimeout

import "strconv"

// AppendNfct appends a policy as `nfct list timeout` and `nfct get timeout`
// print it, byte for byte; with the name empty (defaults), as
// `nfct default-get timeout` prints it. nfct prints every state it knows for
// the protocol, 0 for one the kernel did not send, and not the states it
// does not know (SCTP's HEARTBEAT_SENT).
func AppendNfct(b []byte, p Policy) []byte {
	if p.Name != "" {
		b = append(b, '.')
		b = append(b, p.Name...)
		b = append(b, " = {\n"...)
	}
	b = append(b, "\t.l3proto = "...)
	b = strconv.AppendUint(b, uint64(p.Family), 10)
	b = append(b, ",\n\t.l4proto = "...)
	b = strconv.AppendUint(b, uint64(p.Proto), 10)
	b = append(b, ",\n\t.policy = {\n"...)
	for _, s := range NfctStates(p.Proto) {
		v, _ := p.Timeouts.Get(s.Attr)
		b = append(b, "\t\t."...)
		b = append(b, s.Name...)
		b = append(b, " = "...)
		b = strconv.AppendUint(b, uint64(v), 10)
		b = append(b, ",\n"...)
	}
	return append(b, "\t},\n};\n"...)
}
