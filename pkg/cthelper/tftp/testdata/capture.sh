#!/usr/bin/env bash
# Regenerates the tftp test captures from Debian's tftpd-hpa and tftp-hpa
# client in a throw-away network namespace (root): a read (RRQ) and a write
# (WRQ) over IPv4, and a read over IPv6. Only the first packets of each
# transfer are kept (the helper looks at requests only).
set -euo pipefail
cd "$(dirname "$0")"
ns=gonfct-tftp-capture
root=$(mktemp -d)
ip netns add $ns; trap 'kill $tftpd 2>/dev/null; ip netns del $ns; rm -rf "$root"' EXIT
ip -n $ns link set lo up
# tftp-hpa resolves with AI_ADDRCONFIG, which ignores loopback: give the
# namespace a non-loopback address (documentation range, never sent to).
ip -n $ns link add v0 type veth peer name v1
ip -n $ns addr add 192.0.2.1/32 dev v0; ip -n $ns addr add 2001:db8::1/128 dev v0 nodad; ip -n $ns link set v0 up
echo "hello from tftpd-hpa" > "$root/hello.txt"; chmod 777 "$root"
ip netns exec $ns in.tftpd -L -c -s "$root" -a :69 & tftpd=$!
sleep 1
work=$(mktemp -d); echo "uploaded by tftp-hpa" > "$work/up.txt"
cap() { # name command...
  local name=$1; shift
  ip netns exec $ns tcpdump -i lo -s0 -U --immediate-mode -c 4 -w "$name.pcap" udp 2>/dev/null & local td=$!
  sleep 1; (cd "$work" && ip netns exec $ns "$@" >/dev/null 2>&1) || true; sleep 1; kill $td 2>/dev/null || true; wait $td 2>/dev/null || true
  [ "$(stat -c %s "$name.pcap")" -gt 24 ] || { echo "capture.sh: $name.pcap is empty" >&2; exit 1; }
}
cap rrq4 tftp -4 127.0.0.1 69 -c get hello.txt
cap wrq4 tftp -4 127.0.0.1 69 -c put up.txt
cap rrq6 tftp -6 ::1 69 -c get hello.txt
rm -rf "$work"
