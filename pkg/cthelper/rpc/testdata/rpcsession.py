#!/usr/bin/env python3
"""Portmapper client for the VM tests: several lookups on one connection to
the portmapper (over TCP with RFC 5531 record marking, one record per call
in one fragment, or over UDP from one socket), each followed by a NULL call
to program 100099 version 1 at the address and port the answer names. The
calls are built from RFC 1833: portmapper v2 GETPORT, rpcbind v3 GETADDR,
v4 GETADDR and v4 GETVERSADDR (procedure 9).

    rpcsession.py HOST PORTMAPPER-PORT tcp|udp LOOKUP...

A LOOKUP is KIND:NETID with KIND getport, getaddr3, getaddr4 or
getversaddr, and NETID tcp, udp, tcp6 or udp6 (getport: tcp or udp).
rpcbind answers GETADDR and GETVERSADDR for the netid of the transport the
call came over, whatever the call names: clients ask over the transport
they want an address for, and so should the lookups given here. For
each it prints "KIND:NETID: ADDRESS PORT, null over tcp|udp: ok" (the
universal address as the server sent it, or the portmapper's address for
GETPORT), or what failed; it exits 1 if a lookup or a NULL call failed."""
import socket, struct, sys

PROG, VERS = 100099, 1


def xstr(s):
    b = s.encode()
    return struct.pack(">I", len(b)) + b + b"\0" * ((4 - len(b) % 4) % 4)


def call(xid, prog, vers, proc, args=b""):
    # xid, CALL, RPC version 2, program, version, procedure, AUTH_NONE
    # credential and verifier
    return struct.pack(">IIIIIIIIII", xid, 0, 2, prog, vers, proc, 0, 0, 0, 0) + args


def lookup(xid, kind, netid):
    if kind == "getport":
        return call(xid, 100000, 2, 3, struct.pack(">IIII", PROG, VERS, {"tcp": 6, "udp": 17}[netid], 0))
    vers, proc = {"getaddr3": (3, 3), "getaddr4": (4, 3), "getversaddr": (4, 9)}[kind]
    return call(xid, 100000, vers, proc, struct.pack(">II", PROG, VERS) + xstr(netid) + xstr("") + xstr(""))


def result(xid, reply):
    """The results of an accepted, successful reply to xid."""
    x, mtype, stat, _, vlen = struct.unpack(">IIIII", reply[:20])
    if x != xid or mtype != 1 or stat != 0:
        raise ValueError("reply xid %#x type %d stat %d" % (x, mtype, stat))
    off = 20 + vlen + (-vlen % 4)
    if struct.unpack(">I", reply[off:off + 4])[0] != 0:
        raise ValueError("call not successful")
    return reply[off + 4:]


class TCP:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, port), timeout=10)

    def ask(self, msg):
        self.s.sendall(struct.pack(">I", 0x80000000 | len(msg)) + msg)
        out = b""
        while True:
            mark = struct.unpack(">I", self.read(4))[0]
            out += self.read(mark & 0x7fffffff)
            if mark & 0x80000000:
                return out

    def read(self, n):
        b = b""
        while len(b) < n:
            d = self.s.recv(n - len(b))
            if not d:
                raise EOFError("connection closed")
            b += d
        return b


class UDP:
    def __init__(self, host, port):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.s, self.dest = socket.socket(fam, socket.SOCK_DGRAM), (host, port)
        self.s.settimeout(5)

    def ask(self, msg):
        self.s.sendto(msg, self.dest)
        return self.s.recv(4096)


def universal(ua):
    """Host and port of a universal address (h1.h2.h3.h4.p1.p2, or an IPv6
    address followed by .p1.p2)."""
    host, p1, p2 = ua.rsplit(".", 2)
    return host, int(p1) << 8 | int(p2)


def main(host, pmport, transport, lookups):
    pm = (TCP if transport == "tcp" else UDP)(host, pmport)
    ok = True
    for i, lk in enumerate(lookups):
        kind, netid = lk.split(":")
        xid = 0x5e550000 + i
        try:
            res = result(xid, pm.ask(lookup(xid, kind, netid)))
            if kind == "getport":
                addr, port = host, struct.unpack(">I", res[:4])[0]
                shown = "%s %d" % (addr, port)
            else:
                n = struct.unpack(">I", res[:4])[0]
                ua = res[4:4 + n].decode()
                addr, port = universal(ua) if ua else (host, 0)
                shown = "%s %d" % (ua, port)
            if port == 0:
                raise ValueError("program not registered")
        except (OSError, EOFError, ValueError, struct.error) as e:
            print("%s: failed: %s" % (lk, e), flush=True)
            ok = False
            continue
        proto = "tcp" if netid.startswith("tcp") else "udp"
        try:
            xid += 0x1000
            r = (TCP if proto == "tcp" else UDP)(addr, port).ask(call(xid, PROG, VERS, 0))
            result(xid, r)
            print("%s: %s, null over %s: ok" % (lk, shown, proto), flush=True)
        except (OSError, EOFError, ValueError, struct.error) as e:
            print("%s: %s, null over %s: failed: %s" % (lk, shown, proto, e), flush=True)
            ok = False
    return ok


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    sys.exit(0 if main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]) else 1)
