#!/usr/bin/env python3
"""Amanda peers for the VM test over IPv6, which Debian's Amanda 3.5 does
not speak (it resolves host names for IPv4 only). They exchange the
messages of bsd.pcap (Debian's amdump and amandad, capture.sh): the
server's REQ for SERVICE sendbackup on UDP 10080, amandad's ACK and its
REP naming with "CONNECT DATA p MESG p INDEX p STATE p" the TCP ports the
server is to connect to, the server's ACK; then the server's four
connections.

    amandapeer.py client
    amandapeer.py server HOST

The client (amandad's part) answers one request, listens on four ports,
waits up to 10 s for each connection, sends "STREAM NAME" on it and
prints "NAME: connection from ADDRESS" or "NAME: none". The server sends
the request, connects to each port named (5 s each) and prints "NAME:
PORT ok" or "NAME: PORT failed"; it exits 1 if one failed."""
import socket, sys

FEATURES = "OPTIONS features=ffffffff9efefbfffffffffffffff3fffbf71f;\n"
HEADER = "Amanda 3.5 %s HANDLE 000-00000001 SEQ 1795402108\n"
STREAMS = ("DATA", "MESG", "INDEX", "STATE")


def client():
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    u.bind(("::", 10080))
    req, peer = u.recvfrom(4096)
    if b" REQ " not in req.split(b"\n")[0]:
        sys.exit("not a request: %r" % req[:40])
    u.sendto((HEADER % "ACK").encode(), peer)
    listeners = []
    for _ in STREAMS:
        ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        ls.bind(("::", 0))
        ls.listen(1)
        ls.settimeout(10)
        listeners.append(ls)
    connect = "CONNECT " + " ".join("%s %d" % (n, ls.getsockname()[1]) for n, ls in zip(STREAMS, listeners))
    u.sendto((HEADER % "REP" + connect + "\n" + FEATURES).encode(), peer)
    u.settimeout(5)
    try:
        u.recvfrom(4096)  # the server's ACK
    except socket.timeout:
        pass
    for name, ls in zip(STREAMS, listeners):
        try:
            c, addr = ls.accept()
            c.sendall(b"STREAM %s\n" % name.encode())
            c.close()
            print("%s: connection from %s" % (name, addr[0]), flush=True)
        except OSError:
            print("%s: none" % name, flush=True)


def server(host):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    u = socket.socket(fam, socket.SOCK_DGRAM)
    u.settimeout(10)
    req = HEADER % "REQ" + "SECURITY USER backup\nSERVICE sendbackup\n" + FEATURES
    u.sendto(req.encode(), (host, 10080))
    rep = b""
    while b" REP " not in rep.split(b"\n")[0]:
        rep = u.recv(4096)
    u.sendto((HEADER % "ACK").encode(), (host, 10080))
    words = next(l for l in rep.decode().split("\n") if l.startswith("CONNECT ")).split()[1:]
    ok = True
    for name, port in zip(words[0::2], words[1::2]):
        try:
            c = socket.create_connection((host, int(port)), timeout=5)
            got = c.recv(100).decode().strip()
            if got != "STREAM " + name:
                raise ValueError(got)
            print("%s: %s ok" % (name, port), flush=True)
        except (OSError, ValueError) as e:
            print("%s: %s failed: %s" % (name, port, e), flush=True)
            ok = False
    return ok


if __name__ == "__main__":
    if sys.argv[1:] == ["client"]:
        client()
    elif sys.argv[1:2] == ["server"] and len(sys.argv) == 3:
        sys.exit(0 if server(sys.argv[2]) else 1)
    else:
        sys.exit(__doc__)
