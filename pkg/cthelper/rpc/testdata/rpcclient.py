#!/usr/bin/env python3
"""Portmapper client for capture.sh: the GETPORT v2 and GETADDR v3 calls
Debian's rpcinfo does not send (it asks rpcbind v4 first). The calls are
built from RFC 1833; the replies in the captures are rpcbind's own."""
import socket, struct, sys

def xstr(s):
    b = s.encode(); pad = (4 - len(b) % 4) % 4
    return struct.pack(">I", len(b)) + b + b"\0" * pad

def call(xid, vers, proc, args):
    # xid, CALL, rpcvers 2, prog 100000, vers, proc, AUTH_NULL cred and verf
    return struct.pack(">IIIIII", xid, 0, 2, 100000, vers, proc) + struct.pack(">IIII", 0, 0, 0, 0) + args

def getport(xid, prog, vers, prot):
    return call(xid, 2, 3, struct.pack(">IIII", prog, vers, prot, 0))

def getaddr3(xid, prog, vers, netid):
    return call(xid, 3, 3, struct.pack(">II", prog, vers) + xstr(netid) + xstr("") + xstr(""))

def udp(host, msg):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM); s.settimeout(2)
    s.sendto(msg, (host, 111)); s.recv(512); s.close()

def tcp(host, msg):
    """One record in one fragment (rpcbind resets a connection whose record
    comes in several fragments, so the tests build those from this call)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.create_connection((host, 111))
    s.send(struct.pack(">I", 0x80000000 | len(msg)) + msg)
    r = s.recv(512); s.close()
    if not r: sys.exit("no reply")

what = sys.argv[1]
if what == "getport-udp":
    udp("127.0.0.1", getport(0x0bad0001, 100099, 1, 6))   # tcp port
    udp("127.0.0.1", getport(0x0bad0002, 100099, 1, 17))  # udp port
    udp("127.0.0.1", getport(0x0bad0003, 100098, 1, 6))   # not registered: port 0
    udp("127.0.0.1", getport(0x0bad0004, 100000, 2, 6))   # the portmapper itself
elif what == "getport-tcp":
    tcp("127.0.0.1", getport(0x0bad0011, 100099, 1, 17))
elif what == "getaddr3-udp6":
    udp("::1", getaddr3(0x0bad0031, 100099, 1, "udp6"))
