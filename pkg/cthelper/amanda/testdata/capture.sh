#!/usr/bin/env bash
# Regenerates the amanda test captures from Debian's amanda-server and
# amanda-client (amanda.sh sets them up) in two throw-away network
# namespaces joined by a veth pair (root): one real amdump of a small
# directory to a vtape per auth method, bsd.pcap and bsdudp.pcap. Kept:
# the UDP exchange on port 10080 (noop, sendsize and the sendbackup whose
# REP carries the CONNECT line) and the SYNs of the TCP connections the
# server then opens to the ports CONNECT named (the dumps' data is left
# out to keep the files small).
set -euo pipefail
cd "$(dirname "$0")"
srv=gonfct-amanda-srv cli=gonfct-amanda-cli
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del $srv 2>/dev/null || true
	ip netns del $cli 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
ip netns add $srv
ip netns add $cli
ip -n $srv link add sv type veth peer name cv netns $cli
ip -n $srv addr add 10.80.0.1/24 dev sv
ip -n $cli addr add 10.80.0.2/24 dev cv
for n in $srv $cli; do ip -n $n link set lo up; done
ip -n $srv link set sv up
ip -n $cli link set cv up
for auth in bsd bsdudp; do
	./amanda.sh config "$work/$auth" $auth 0 amserver 10.80.0.1 amclient 10.80.0.2
	ip netns exec $cli ./amanda.sh client "$work/$auth" &
	pids+=($!)
	inetd=$!
	sleep 1
	ip netns exec $cli tcpdump -Z root -i cv -s0 -U --immediate-mode -w $auth.pcap \
		'udp port 10080 or tcp[tcpflags] & tcp-syn != 0' 2>/dev/null &
	td=$!
	sleep 1
	ip netns exec $srv ./amanda.sh dump "$work/$auth" | grep -E '^(SUCCESS|FAIL)'
	sleep 1
	kill $td $inetd
	wait $td $inetd 2>/dev/null || true
done
