#!/bin/sh
# Records whole FTP sessions (control and data connections) between real
# peers, Debian's pyftpdlib server and curl, in two network namespaces:
#   ftp.pcap       Ethernet (tcpdump -i veth): EPSV, PASV, EPRT and PORT over
#                  IPv4, EPSV and EPRT over IPv6, and a session on port 2121
#   ftp-any.pcap   Linux cooked v2 (tcpdump -i any): one EPSV and one PORT
#                  session over IPv4
# Needs root, python3-pyftpdlib, curl and tcpdump (scripts/deps).
# Run it from this directory: sh capture.sh
set -eu
S=gonfct-rpl-srv C=gonfct-rpl-cli
dir=$(mktemp -d)
cleanup() {
	for p in ${pids:-}; do kill "$p" 2>/dev/null || true; done
	ip netns del $S 2>/dev/null || true
	ip netns del $C 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
ip netns add $S
ip netns add $C
ip link add rpl0 netns $S type veth peer name rpl1 netns $C
ip -n $S addr add 10.56.0.1/24 dev rpl0
ip -n $C addr add 10.56.0.2/24 dev rpl1
ip -n $S addr add fd56::1/64 dev rpl0 nodad
ip -n $C addr add fd56::2/64 dev rpl1 nodad
for ns in $S $C; do ip -n $ns link set lo up; done
ip -n $S link set rpl0 up
ip -n $C link set rpl1 up
mkdir "$dir/pub"
echo "hello from gonfct's replay capture" > "$dir/pub/hello.txt"
ip netns exec $S /usr/bin/python3 -m pyftpdlib -i :: -p 21 -d "$dir/pub" >"$dir/srv21.log" 2>&1 &
pids="$!"
ip netns exec $S /usr/bin/python3 -m pyftpdlib -i :: -p 2121 -d "$dir/pub" >"$dir/srv2121.log" 2>&1 &
pids="$pids $!"
get() { ip netns exec $C curl -sS --max-time 10 "$@" >/dev/null; }
record() { # FILE IFACE; then the sessions
	ip netns exec $C tcpdump -i "$2" --immediate-mode -U -s 0 -w "$1" tcp >"$dir/dump.log" 2>&1 &
	dump=$!
	sleep 1.5
}
stop() { sleep 0.5; kill $dump; wait $dump 2>/dev/null || true; ls -l "$1"; }

record ftp.pcap rpl1
get ftp://10.56.0.1/hello.txt                              # EPSV
get --disable-epsv ftp://10.56.0.1/hello.txt               # PASV
get -P 10.56.0.2 ftp://10.56.0.1/hello.txt                 # EPRT |1|
get -P 10.56.0.2 --disable-eprt ftp://10.56.0.1/hello.txt  # PORT
get -g 'ftp://[fd56::1]/hello.txt'                         # EPSV over IPv6
get -g -P fd56::2 'ftp://[fd56::1]/hello.txt'              # EPRT |2|
get --disable-epsv ftp://10.56.0.1:2121/hello.txt          # PASV on port 2121
stop ftp.pcap

record ftp-any.pcap any
get ftp://10.56.0.1/hello.txt
get -P 10.56.0.2 --disable-eprt ftp://10.56.0.1/hello.txt
stop ftp-any.pcap
