#!/usr/bin/env python3
"""A text protocol that announces ports, as in-house protocols do: the peer
pair of the pattern helper's VM tests (python3 only, no other package).

  announce.py server PORT [OTHER_ADDR,...]
      Serve control connections on TCP PORT (IPv4 and IPv6). Per line:
        WANT udp|tcp       open a port on this host's address of the control
                           connection (with "WANT udp other": on the
                           OTHER_ADDR of its family, a third party) and
                           answer "OPEN udp|tcp ADDR PORT"; when a datagram or
                           connection arrives there, answer it and report
                           "GOT udp|tcp PEER" ("NONE udp|tcp" after 4 s)
        LISTEN tcp ADDR PORT  connect to ADDR PORT as the line says, send
                           "hello", answer "DIALED ADDR PORT ok|fail"
        ECHO TEXT          answer "ECHO TEXT"

  announce.py client HOST PORT STEP...
      One control connection to HOST PORT, one output line per step:
        want:udp | want:tcp | want:udp:other
            "want udp|tcp open ADDR PORT data ok|fail server GOT ..|NONE .."
        listen
            listen on a port, announce this host's address of the control
            connection: "listen sent ADDR PORT server-saw ADDR PORT dialed
            ok|fail accepted PEER|none"
        echo:TEXT
            "echo TEXT ok|bad"
"""
import socket
import sys
import threading

WAIT = 4.0


def own(addr):
    """An address as a dual-stack socket reports it, without ::ffff:."""
    return addr[7:] if addr.startswith("::ffff:") else addr


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def serve(conn, other):
    f = conn.makefile("rb")
    me = own(conn.getsockname()[0])
    for raw in f:
        words = raw.decode().split()
        if not words:
            continue
        if words[0] == "WANT":
            proto = words[1]
            addr = me
            if len(words) > 2 and words[2] == "other":
                addr = [a for a in other if family(a) == family(me)][0]
            kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
            s = socket.socket(family(addr), kind)
            s.bind((addr, 0))
            s.settimeout(WAIT)
            if proto == "tcp":
                s.listen(1)
            conn.sendall(b"OPEN %s %s %d\r\n" % (proto.encode(), addr.encode(), s.getsockname()[1]))
            try:
                if proto == "udp":
                    data, peer = s.recvfrom(100)
                    s.sendto(b"pong", peer)
                else:
                    c, peer = s.accept()
                    c.sendall(b"hello\n")
                    c.close()
                conn.sendall(b"GOT %s %s\r\n" % (proto.encode(), own(peer[0]).encode()))
            except socket.timeout:
                conn.sendall(b"NONE %s\r\n" % proto.encode())
            s.close()
        elif words[0] == "LISTEN":
            addr, port = words[2], int(words[3])
            try:
                c = socket.create_connection((addr, port), timeout=WAIT, source_address=(me, 0))
                c.sendall(b"hello\n")
                c.close()
                res = b"ok"
            except OSError:
                res = b"fail"
            conn.sendall(b"DIALED %s %d %s\r\n" % (addr.encode(), port, res))
        elif words[0] == "ECHO":
            conn.sendall(b"ECHO %s\r\n" % " ".join(words[1:]).encode())
    conn.close()


def server(port, other):
    ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("::", port))
    ls.listen(8)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c, other), daemon=True).start()


def client(host, port, steps):
    c = socket.create_connection((host, port), timeout=3 * WAIT)
    f = c.makefile("rb")
    me = own(c.getsockname()[0])

    def line():
        return f.readline().decode().strip()

    for step in steps:
        parts = step.split(":", 1)
        if parts[0] == "want":
            proto, _, where = parts[1].partition(":")
            c.sendall(("WANT %s %s\r\n" % (proto, where)).encode())
            words = line().split()  # OPEN proto addr port
            addr, dport = words[2], int(words[3])
            kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
            s = socket.socket(family(addr), kind)
            s.settimeout(WAIT)
            try:
                if proto == "udp":
                    s.sendto(b"ping", (addr, dport))
                    ok = s.recv(100) == b"pong"
                else:
                    s.connect((addr, dport))
                    ok = s.recv(100) == b"hello\n"
            except OSError:
                ok = False
            s.close()
            print("want %s open %s %d data %s server %s" % (proto, addr, dport, "ok" if ok else "fail", line()), flush=True)
        elif parts[0] == "listen":
            ls = socket.socket(family(me), socket.SOCK_STREAM)
            ls.bind((me, 0))
            ls.listen(1)
            ls.settimeout(2 * WAIT)
            lport = ls.getsockname()[1]
            c.sendall(b"LISTEN tcp %s %d\r\n" % (me.encode(), lport))
            try:
                a, peer = ls.accept()
                a.close()
                accepted = own(peer[0])
            except socket.timeout:
                accepted = "none"
            words = line().split()  # DIALED addr port ok|fail
            print("listen sent %s %d server-saw %s %s dialed %s accepted %s" % (me, lport, words[1], words[2], words[3], accepted), flush=True)
            ls.close()
        elif parts[0] == "echo":
            c.sendall(("ECHO %s\r\n" % parts[1]).encode())
            got = line()
            print("echo %s %s" % (parts[1], "ok" if got == "ECHO " + parts[1] else "bad: " + got), flush=True)
    c.close()


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(int(sys.argv[2]), sys.argv[3].split(",") if len(sys.argv) > 3 else [])
    else:
        client(sys.argv[2], int(sys.argv[3]), sys.argv[4:])
