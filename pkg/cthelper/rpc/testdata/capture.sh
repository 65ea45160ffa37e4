#!/usr/bin/env bash
# Regenerates the rpc test captures from Debian's rpcbind and rpcinfo in a
# throw-away network namespace (root). Program 100099 version 1 is
# registered on tcp 40001, udp 40002, tcp6 40003 and udp6 40004.
set -euo pipefail
cd "$(dirname "$0")"
ns=gonfct-rpc-capture
ip netns add $ns; trap 'kill $rpcb 2>/dev/null; ip netns del $ns' EXIT
ip -n $ns link set lo up
ip netns exec $ns rpcbind -f -w & rpcb=$!
sleep 1
ip netns exec $ns python3 - <<'PY'
import socket, struct
def xstr(s):
    b = s.encode(); return struct.pack(">I", len(b)) + b + b"\0" * ((4 - len(b) % 4) % 4)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 800)); s.settimeout(2)
hdr = lambda xid, vers: struct.pack(">IIIIIIIIII", xid, 0, 2, 100000, vers, 1, 0, 0, 0, 0)
for i, (prot, port) in enumerate([(6, 40001), (17, 40002)]):   # PMAPPROC_SET
    s.sendto(hdr(i + 1, 2) + struct.pack(">IIII", 100099, 1, prot, port), ("127.0.0.1", 111)); s.recv(64)
for i, (netid, ua) in enumerate([("tcp6", "::1.156.67"), ("udp6", "::1.156.68")]):  # RPCBPROC_SET
    s.sendto(hdr(i + 3, 3) + struct.pack(">II", 100099, 1) + xstr(netid) + xstr(ua) + xstr("superuser"), ("127.0.0.1", 111)); s.recv(64)
PY
cap() { # name command...
  local name=$1; shift
  ip netns exec $ns tcpdump -i lo -s0 -U --immediate-mode -w "$name.pcap" port 111 2>/dev/null & local td=$!
  sleep 1; ip netns exec $ns "$@" >/dev/null 2>&1 || true; sleep 1; kill $td; wait $td 2>/dev/null || true
}
cap rpcinfo-getaddr4-tcp rpcinfo -t 127.0.0.1 100099 1
cap rpcinfo-getaddr4-udp rpcinfo -u 127.0.0.1 100099 1
cap rpcinfo-getaddr4-tcp6 rpcinfo -T tcp6 ::1 100099 1
cap rpcinfo-getaddr4-udp6 rpcinfo -T udp6 ::1 100099 1
cap rpcinfo-getaddr4-unregistered rpcinfo -t 127.0.0.1 100098 1
for w in getport-udp getport-tcp getaddr3-udp6; do cap "$w" python3 rpcclient.py "$w"; done
for f in *.pcap; do [ "$(stat -c %s "$f")" -gt 24 ] || { echo "capture.sh: $f is empty" >&2; exit 1; }; done
