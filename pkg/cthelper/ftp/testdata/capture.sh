#!/bin/sh
# Records the FTP control channel of real sessions (Debian's pyftpdlib
# server, curl as the client) between two network namespaces, in passive
# (EPSV, PASV) and active (EPRT, PORT) mode over IPv4 and IPv6, into
# ftp-sessions.pcap. Needs root, python3-pyftpdlib, curl and tcpdump.
# Run it from this directory: sh capture.sh
set -eu
out=$(pwd)/ftp-sessions.pcap
S=gonfct-ftpcap-srv C=gonfct-ftpcap-cli
dir=$(mktemp -d)
cleanup() {
	[ -n "${srvpid:-}" ] && kill "$srvpid" 2>/dev/null || true
	[ -n "${dumppid:-}" ] && kill "$dumppid" 2>/dev/null || true
	ip netns del $S 2>/dev/null || true
	ip netns del $C 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
ip netns add $S
ip netns add $C
ip link add ftpcap0 netns $S type veth peer name ftpcap1 netns $C
ip -n $S addr add 10.55.0.1/24 dev ftpcap0
ip -n $C addr add 10.55.0.2/24 dev ftpcap1
ip -n $S addr add fd55::1/64 dev ftpcap0 nodad
ip -n $C addr add fd55::2/64 dev ftpcap1 nodad
for ns in $S $C; do
	ip -n $ns link set lo up
done
ip -n $S link set ftpcap0 up
ip -n $C link set ftpcap1 up
mkdir "$dir/pub"
echo "hello from gonfct's ftp capture" > "$dir/pub/hello.txt"
ip netns exec $S /usr/bin/python3 -m pyftpdlib -i :: -p 21 -d "$dir/pub" >"$dir/srv.log" 2>&1 &
srvpid=$!
ip netns exec $C tcpdump -i ftpcap1 --immediate-mode -U -s 0 -w "$out" 'tcp port 21' >"$dir/dump.log" 2>&1 &
dumppid=$!
sleep 1.5
get() { ip netns exec $C curl -sS --max-time 10 "$@" >/dev/null; }
get ftp://10.55.0.1/hello.txt                       # EPSV
get --disable-epsv ftp://10.55.0.1/hello.txt        # PASV
get -P 10.55.0.2 ftp://10.55.0.1/hello.txt          # EPRT |1|
get -P 10.55.0.2 --disable-eprt ftp://10.55.0.1/hello.txt  # PORT
get -g 'ftp://[fd55::1]/hello.txt'                  # EPSV over IPv6
get -g -P fd55::2 'ftp://[fd55::1]/hello.txt'       # EPRT |2|
sleep 0.5
kill $dumppid
wait $dumppid 2>/dev/null || true
dumppid=
ls -l "$out"
