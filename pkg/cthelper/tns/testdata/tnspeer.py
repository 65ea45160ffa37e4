#!/usr/bin/env python3
"""TNS peers for capture.sh and the VM tests. Oracle's listener and client
are not in Debian; these follow the TNS wire format: an 8-byte header
(packet length, packet checksum, type, reserved, header checksum, all big
endian), CONNECT (type 1) with its fixed part and the connect data at the
offset it names, ACCEPT (2), REDIRECT (5: a 2-byte connect data length,
then the data) and DATA (6: 2 bytes of data flags, then the data).

    tnspeer.py server [LOCAL=HOST ...]
    tnspeer.py client HOST [ROUNDS]

The server listens on port 1521 (IPv4 and IPv6) and, as a listener handing
clients to dispatchers, answers a connection's first CONNECT with a
REDIRECT carrying the address inline, (HOST=...)(PORT=40521), and its
second CONNECT with an empty REDIRECT followed by a DATA packet carrying
the address (PORT=40522), as listeners do when the data is long. HOST is
the address the connection reached the server on (the real one, behind
destination NAT), unless a LOCAL=HOST argument names another host for
connections to the address LOCAL (a redirect to a third party). It echoes
every DATA packet. The dispatchers on 40521 and 40522 accept any CONNECT
and echo DATA too. The listener prints "listener: PEER -> LOCAL" for each
connection.

The client dials HOST:1521, follows both redirects to the address and
port they name (CONNECT, ACCEPT, one DATA echo there) and exchanges
ROUNDS DATA packets of growing size on the listener connection after each
redirect: a payload rewrite that changed the stream's length must leave
the rest of it intact. It prints one line per step and exits 1 if one
failed."""
import socket, struct, sys, threading, time

CONNECT, ACCEPT, REDIRECT, DATA = 1, 2, 5, 6
DISPATCHERS = (40521, 40522)


def packet(typ, body):
    # Checksums are 0: "not used", as Oracle sends them.
    return struct.pack(">HHBBH", 8 + len(body), 0, typ, 0, 0) + body


def read_packet(s):
    head = read_exact(s, 8)
    n, _, typ = struct.unpack(">HHB", head[:5])
    if n < 8:
        raise ValueError("TNS length %d" % n)
    return typ, read_exact(s, n - 8)


def read_exact(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            raise EOFError("connection closed after %d of %d bytes" % (len(b), n))
        b += d
    return b


def connect_packet(text):
    data = text.encode()
    # version 314, compatible 300, service options, SDU 8192, TDU 32767,
    # NT protocol characteristics, line turnaround 0, "1" in the sender's
    # byte order, connect data length and offset (58), max receivable
    # connect data, connect flags 0 and 1, trace items and the unique
    # connection id (zero), padding to the offset.
    fixed = struct.pack(">HHHHHHHHHHIBB", 314, 300, 0x0c41, 8192, 32767, 0x7f08, 0, 0x0100,
                        len(data), 58, 2048, 0x41, 0x41) + b"\0" * 24
    assert 8 + len(fixed) == 58
    return packet(CONNECT, fixed + data)


def accept_packet():
    # version 314, service options, SDU, TDU, "1", accept data length 0
    # and offset 24, connect flags.
    return packet(ACCEPT, struct.pack(">HHHHHHHBB", 314, 0x0c41, 8192, 32767, 0x0100, 0, 24, 0x41, 0x41))


def data_packet(payload):
    return packet(DATA, b"\0\0" + payload)


def address(host, port):
    return "(ADDRESS=(PROTOCOL=tcp)(HOST=%s)(PORT=%d))" % (host, port)


def local_host(conn):
    h = conn.getsockname()[0]
    return h[7:] if h.startswith("::ffff:") else h


def listen(port):
    ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("::", port))
    ls.listen(8)
    return ls


def echo(c, typ, body):
    if typ == DATA:
        c.sendall(data_packet(b"echo:" + body[2:]))
        return True
    return False


def serve_dispatcher(ls):
    while True:
        c, _ = ls.accept()
        threading.Thread(target=dispatcher, args=(c,), daemon=True).start()


def dispatcher(c):
    try:
        while True:
            typ, body = read_packet(c)
            if typ == CONNECT:
                c.sendall(accept_packet())
            elif not echo(c, typ, body):
                break
    except (OSError, EOFError, ValueError):
        pass
    c.close()


def listener(c, peer, redirects):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    host = redirects.get(local_host(c), local_host(c))
    print("listener: %s -> %s" % (peer[0].removeprefix("::ffff:"), local_host(c)), flush=True)
    connects = 0
    try:
        while True:
            typ, body = read_packet(c)
            if typ == CONNECT:
                text = (address(host, DISPATCHERS[connects % 2]) + "\0" +
                        "(DESCRIPTION=(CONNECT_DATA=(SERVICE_NAME=gonfct)))").encode()
                if connects % 2 == 0:
                    c.sendall(packet(REDIRECT, struct.pack(">H", len(text)) + text))
                else:
                    # The data follows in a DATA packet of its own: the
                    # helper reads it in the segment after the REDIRECT.
                    c.sendall(packet(REDIRECT, b"\0\0"))
                    time.sleep(0.3)
                    c.sendall(data_packet(text))
                connects += 1
            elif not echo(c, typ, body):
                break
    except (OSError, EOFError, ValueError):
        pass
    c.close()


def server(redirects):
    for port in DISPATCHERS:
        threading.Thread(target=serve_dispatcher, args=(listen(port),), daemon=True).start()
    ls = listen(1521)
    while True:
        c, peer = ls.accept()
        threading.Thread(target=listener, args=(c, peer, redirects), daemon=True).start()


def field(text, key):
    i = text.upper().find("(" + key + "=")
    if i < 0:
        return None
    return text[i + len(key) + 2:text.index(")", i)].strip()


def exchange(s, rounds, what):
    for i in range(rounds):
        msg = ("%s %d " % (what, i)).encode() + b"x" * (100 * i)
        s.sendall(data_packet(msg))
        typ, body = read_packet(s)
        if typ != DATA or body[2:] != b"echo:" + msg:
            raise ValueError("%s %d: got type %d %r" % (what, i, typ, body[:40]))


def client(host, rounds):
    ok = True
    s = socket.create_connection((host, 1521), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    connect = connect_packet("(DESCRIPTION=(CONNECT_DATA=(SERVICE_NAME=gonfct))" + address(host, 1521) + ")")
    for n in (1, 2):
        try:
            s.sendall(connect)
            typ, body = read_packet(s)
            if typ != REDIRECT:
                raise ValueError("answer of type %d, not a REDIRECT" % typ)
            length = struct.unpack(">H", body[:2])[0]
            text = body[2:2 + length]
            if length == 0:
                typ, body = read_packet(s)
                if typ != DATA:
                    raise ValueError("type %d after an empty REDIRECT, not DATA" % typ)
                text = body[2:]
            text = text.decode(errors="replace")
            rhost, rport = field(text, "HOST"), int(field(text, "PORT"))
            print("redirect %d (%s): HOST=%s PORT=%d" % (n, "inline" if length else "in DATA", rhost, rport), flush=True)
        except (OSError, EOFError, ValueError) as e:
            print("redirect %d: failed: %s" % (n, e), flush=True)
            return False
        try:
            d = socket.create_connection((rhost, rport), timeout=5)
            d.sendall(connect)
            typ, _ = read_packet(d)
            if typ != ACCEPT:
                raise ValueError("answer of type %d, not ACCEPT" % typ)
            exchange(d, 1, "dispatcher")
            d.close()
            print("dispatcher %d: ok" % n, flush=True)
        except (OSError, EOFError, ValueError) as e:
            print("dispatcher %d: failed: %s" % (n, e), flush=True)
            ok = False
        try:
            exchange(s, rounds, "listener after redirect %d" % n)
            print("listener after redirect %d: %d exchanges ok" % (n, rounds), flush=True)
        except (OSError, EOFError, ValueError) as e:
            print("listener after redirect %d: failed: %s" % (n, e), flush=True)
            return False
    s.close()
    return ok


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(dict(a.split("=", 1) for a in sys.argv[2:]))
    elif sys.argv[1] == "client":
        sys.exit(0 if client(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 5) else 1)
    else:
        sys.exit(__doc__)
