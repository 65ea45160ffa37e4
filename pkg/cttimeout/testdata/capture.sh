#!/usr/bin/env bash
# Regenerates the byte fixtures in this directory from Debian's nfct, run as
# root in a scratch network namespace of its own (cttimeout policies are per
# network namespace). Each NAME.strace holds strace's view of one nfct
# command: the decoded sendto/recvmsg lines and, after each, the raw bytes
# (-e write=3 / -e read=3 hex dumps) the tests read; NAME.out is nfct's
# standard output for the same run.
set -euo pipefail
cd "$(dirname "$0")"
ns=gonfct-capture-$$
ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT
capture() {
	local name=$1; shift
	ip netns exec "$ns" strace -f -e trace=sendmsg,sendto,recvmsg -e write=3 -e read=3 -xx -s 4096 \
		-o "$name.strace" nfct "$@" >"$name.out"
	# The banner names the command; pids and sequence numbers vary.
	sed -i "1i # nfct $*" "$name.strace"
}
capture add-tcp add timeout web inet tcp established 100 syn_sent 5 UNACKNOWLEDGED 7
capture add-udp6 add timeout dns inet6 udp replied 50
capture add-sctp add timeout sig inet sctp established 600 closed 3
capture add-icmp add timeout ping inet icmp timeout 9
capture add-generic add timeout other inet6 generic timeout 45
capture get-tcp get timeout web
capture get-sctp get timeout sig
capture list list timeout
capture delete delete timeout dns
capture flush flush timeout
capture default-set default-set timeout inet udp unreplied 31 replied 170
capture default-get-udp default-get timeout inet udp
capture default-get-tcp default-get timeout inet6 tcp
