#!/bin/sh
# Records real lobby sessions (lobby.py as server and client, two network
# namespaces, tcpdump on the client's side) into lobby.pcap: one over IPv4
# (match port 40123) and one over IPv6 (match port 40124). Needs root,
# python3 and tcpdump. Run it from this directory: sh capture.sh
set -eu
S=gonfct-lobby-srv C=gonfct-lobby-cli
here=$(pwd)
cleanup() {
	[ -n "${dump:-}" ] && kill "$dump" 2>/dev/null || true
	ip netns del $S 2>/dev/null || true
	ip netns del $C 2>/dev/null || true
}
trap cleanup EXIT
ip netns add $S
ip netns add $C
ip link add lobby0 netns $S type veth peer name lobby1 netns $C
ip -n $S addr add 10.57.0.1/24 dev lobby0
ip -n $C addr add 10.57.0.2/24 dev lobby1
ip -n $S addr add fd57::1/64 dev lobby0 nodad
ip -n $C addr add fd57::2/64 dev lobby1 nodad
for ns in $S $C; do ip -n $ns link set lo up; done
ip -n $S link set lobby0 up
ip -n $C link set lobby1 up
ip netns exec $C tcpdump -i lobby1 --immediate-mode -U -s 0 -w "$here/lobby.pcap" 'tcp or udp' >/dev/null 2>&1 &
dump=$!
sleep 1.5
session() { # HOST MATCHPORT NAME
	ip netns exec $S python3 "$here/lobby.py" server 7777 "$2" &
	srv=$!
	sleep 0.5
	ip netns exec $C python3 "$here/lobby.py" client "$1" 7777 "$3"
	wait $srv
}
session 10.57.0.1 40123 alice
session fd57::1 40124 bob
sleep 0.5
kill $dump; wait $dump 2>/dev/null || true; dump=
ls -l "$here/lobby.pcap"
