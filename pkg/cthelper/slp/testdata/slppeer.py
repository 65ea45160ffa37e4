#!/usr/bin/env python3
"""SLPv2 peers for capture.sh and the VM test (no SLP agent is packaged in
Debian 12). The messages follow RFC 2608: the header (version 2, function,
3-byte length, flags with REQUEST MCAST for multicast requests, next
extension offset, XID, language tag "en"), SrvRqst (1) and SrvRply (2),
AttrRqst (6) and AttrRply (7). IPv4 requests go to the SLP group
239.255.255.253; IPv6 ones to the link-local group RFC 3111 derives from
the service type (ff02::1:1000 plus a hash of it).

    slppeer.py sa IFNAME HOST4 HOST6
    slppeer.py ua multicast 4|6 IFNAME
    slppeer.py ua unicast ADDRESS

The service agent (sa) listens on UDP 427 on every address and in the
groups on IFNAME, and offers service:printer:lpr://HOST/queue (HOST4 to
IPv4 requesters, [HOST6] to IPv6 ones) with two attributes; it answers
a request by unicast from port 427 to the requester's address and port,
and prints "request from ADDRESS".

The user agent (ua) sends a SrvRqst for service:printer, then an AttrRqst
for the URL in the answer, to the group or to ADDRESS, from one socket on
an ephemeral port (a request is resent twice if no answer comes within a
second), and prints each answer and the address it came from. It exits 1
when an answer is missing."""
import socket, struct, sys, time

SRVRQST, SRVRPLY, ATTRRQST, ATTRRPLY = 1, 2, 6, 7
MCAST_FLAG = 0x2000
PORT = 427
GROUP4 = "239.255.255.253"
SERVICE = "service:printer"
ATTRS = "(printer-name=gonfct),(color-supported=true)"


def group6(service):
    h = 0
    for c in service.encode():
        h = (h * 33 + c) & 0xffffffff
    return "ff02::1:%x" % (0x1000 + (h & 0x3ff))


def string(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def message(function, xid, body, multicast=False):
    lang = string("en")
    n = 2 + 3 + 2 + 3 + 2 + len(lang) + len(body)
    return (struct.pack(">BB", 2, function) + n.to_bytes(3, "big") +
            struct.pack(">H", MCAST_FLAG if multicast else 0) + b"\0\0\0" +
            struct.pack(">H", xid) + lang + body)


def parse(b):
    """Function, XID and body of an SLPv2 message."""
    if len(b) < 16 or b[0] != 2 or int.from_bytes(b[2:5], "big") != len(b):
        raise ValueError("not an SLPv2 message: %r" % b[:16])
    xid, lang_len = struct.unpack(">HH", b[10:14])
    return b[1], xid, b[14 + lang_len:]


def strings(b, count):
    out = []
    for _ in range(count):
        n = struct.unpack(">H", b[:2])[0]
        out.append(b[2:2 + n].decode())
        b = b[2 + n:]
    return out


def sa(ifname, host4, host6):
    import select
    ifindex = socket.if_nametoindex(ifname)
    s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s4.bind(("0.0.0.0", PORT))
    s4.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                  socket.inet_aton(GROUP4) + socket.inet_aton("0.0.0.0") + struct.pack("i", ifindex))
    s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s6.bind(("::", PORT))
    s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                  socket.inet_pton(socket.AF_INET6, group6(SERVICE)) + struct.pack("I", ifindex))
    urls = {s4: "%s:lpr://%s/queue" % (SERVICE, host4), s6: "%s:lpr://[%s]/queue" % (SERVICE, host6)}
    while True:
        for s in select.select([s4, s6], [], [])[0]:
            b, peer = s.recvfrom(2048)
            try:
                function, xid, body = parse(b)
                print("request from %s" % peer[0], flush=True)
                url = urls[s]
                if function == SRVRQST:
                    _, service, _, _ = strings(body, 4)
                    if service == SERVICE:
                        entry = struct.pack(">BH", 0, 300) + string(url) + b"\0"
                        s.sendto(message(SRVRPLY, xid, struct.pack(">HH", 0, 1) + entry), peer)
                elif function == ATTRRQST:
                    _, asked, _, _ = strings(body, 4)
                    if asked == url:
                        s.sendto(message(ATTRRPLY, xid, struct.pack(">H", 0) + string(ATTRS) + b"\0"), peer)
            except (ValueError, struct.error) as e:
                print("bad request from %s: %s" % (peer[0], e), flush=True)


def ask(s, dest, function, xid, body, multicast):
    msg = message(function, xid, body, multicast)
    for _ in range(3):
        s.sendto(msg, dest)
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:
            s.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                b, peer = s.recvfrom(2048)
            except socket.timeout:
                break
            got, gxid, answer = parse(b)
            if gxid == xid and got == function + 1:
                return answer, peer[0]
    return None, None


def ua(args):
    if args[0] == "multicast":
        fam = socket.AF_INET6 if args[1] == "6" else socket.AF_INET
        ifindex = socket.if_nametoindex(args[2])
        s = socket.socket(fam, socket.SOCK_DGRAM)
        if fam == socket.AF_INET:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, struct.pack("4s4si", b"\0" * 4, b"\0" * 4, ifindex))
            dest = (GROUP4, PORT)
        else:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
            dest = (group6(SERVICE), PORT, 0, ifindex)
        multicast = True
    else:
        fam = socket.AF_INET6 if ":" in args[1] else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_DGRAM)
        dest, multicast = (args[1], PORT), False
    s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", 0))
    body, peer = ask(s, dest, SRVRQST, 0x5101, string("") + string(SERVICE) + string("DEFAULT") + string("") + string(""), multicast)
    if body is None:
        print("SrvRply: none", flush=True)
        return False
    err, count = struct.unpack(">HH", body[:4])
    url = strings(body[4 + 3:], 1)[0] if count else ""
    print("SrvRply from %s: error %d, %s" % (peer, err, url), flush=True)
    body, peer = ask(s, dest, ATTRRQST, 0x5102, string("") + string(url) + string("DEFAULT") + string("") + string(""), multicast)
    if body is None:
        print("AttrRply: none", flush=True)
        return False
    print("AttrRply from %s: error %d, %s" % (peer, struct.unpack(">H", body[:2])[0], strings(body[2:], 1)[0]), flush=True)
    return True


if __name__ == "__main__":
    if sys.argv[1:2] == ["sa"] and len(sys.argv) == 5:
        sa(*sys.argv[2:])
    elif sys.argv[1:2] == ["ua"] and len(sys.argv) in (4, 5):
        sys.exit(0 if ua(sys.argv[2:]) else 1)
    else:
        sys.exit(__doc__)
