#!/usr/bin/env bash
# Regenerates real-packets.txt (root): the attributes of NFQUEUE packet
# messages as Debian's 6.1 kernel sends them to a queue bound with the
# conntrack glue (NFQA_CFG_F_CONNTRACK, which the host kernel lacks), in a
# throw-away VM (scripts/vmtest): an FTP control connection over 127.0.0.1
# and one over ::1, the kernel's ftp helper attached by nft, every packet
# of them queued from the output hook, so each carries NFQA_CT with
# CTA_HELP. The fuzz tests of pkg/nfq and pkg/cthelper/engine start from
# them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
cd "$repo"
if [ "${1:-}" != --guest ]; then
	mkdir -p .cache/bin
	go build -o .cache/bin/nfqdump ./pkg/nfq/testdata/nfqdump
	GONFCT_VMTEST_MODULES="nf_conntrack_ftp nfnetlink_queue nft_queue nft_ct" \
		scripts/vmtest --timeout 600 -- pkg/nfq/testdata/capture.sh --guest
	exit
fi

ip link set lo up
nft -f - <<'NFT'
table inet capture {
	ct helper ftp-std { type "ftp" protocol tcp; }
	chain out {
		type filter hook output priority 0;
		tcp dport 21 ct helper set "ftp-std"
		tcp dport 21 queue num 7 bypass
		tcp sport 21 queue num 7 bypass
	}
}
NFT
out=$here/real-packets.txt
raw=$(mktemp)
.cache/bin/nfqdump -n 100 > "$raw" & dump=$!
# Bound (and configured: a queue without its copy mode refuses packets)
# before the traffic starts.
for _ in $(seq 100); do grep -q '^ *7 ' /proc/net/netfilter/nfnetlink_queue 2>/dev/null && break; sleep 0.2; done
sleep 1
for addr in 127.0.0.1 ::1; do
	python3 - "$addr" <<'PY'
import socket, sys, threading
socket.setdefaulttimeout(10)
addr = sys.argv[1]
s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, 21))
s.listen()
def serve():
    c, _ = s.accept()
    c.sendall(b"220 gonfct seed\r\n")
    c.recv(100)
    c.close()
t = threading.Thread(target=serve)
t.start()
c = socket.create_connection((addr, 21))
c.recv(100)
c.sendall(b"PASV\r\n")
c.close()
t.join()
PY
done
sleep 1
kill $dump
{
	echo "# NFQUEUE packet message attributes (after nfgenmsg), hex, one message a line,"
	echo "# from Debian's $(uname -r) kernel with the conntrack glue: written by capture.sh."
	# The first 7 of each family (NFQA_PACKET_HDR's hw_protocol).
	grep -m7 '^0b000100........0800' "$raw" || true
	grep -m7 '^0b000100........86dd' "$raw" || true
} > "$out"
rm -f "$raw"
n=$(grep -vc '^#' "$out" || true)
[ "$n" -eq 14 ] || { echo "capture.sh: $n packets, want 14" >&2; exit 1; }
