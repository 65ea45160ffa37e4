#!/usr/bin/env python3
"""A minimal rshd for capture.sh and the VM test (the BSD rsh protocol as
rshd(8) describes it): reads the client's stderr port and the three
NUL-terminated strings, connects back from a reserved port to the stderr
port (giving up after 5 s), writes a line on the stderr connection,
answers with a NUL byte, a line of output, whether the stderr connection
got through and the client's address as the server saw it, and closes.
One connection, on port 514 or PORT (NetWorker's nsrexecd speaks the same
protocol on 7937).

    rshd.py 4|6 [PORT]"""
import socket, sys

fam = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
ls = socket.socket(fam, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
any_addr = "::" if fam == socket.AF_INET6 else "0.0.0.0"
ls.bind((any_addr, int(sys.argv[2]) if len(sys.argv) > 2 else 514)); ls.listen(1)
c, peer = ls.accept()
buf = b""
while buf.count(b"\0") < 4:
    d = c.recv(1024)
    if not d:
        break
    buf += d
port = int(buf.split(b"\0")[0])
err = None
if port:
    for lport in range(1023, 511, -1):
        err = socket.socket(fam, socket.SOCK_STREAM)
        try:
            err.bind((any_addr, lport))
        except OSError:
            err.close(); err = None
            continue
        err.settimeout(5)
        try:
            err.connect((peer[0], port))
        except OSError:
            err.close(); err = None
        break
# The main channel also says whether the stderr connection got through:
# the VM test reads that (rsh-redone does not always copy stderr out
# before the main connection closes).
state = b"stderr connection: up\n" if err else b"stderr connection: failed\n"
if err:
    err.sendall(b"and its stderr\n"); err.close()
c.sendall(b"\0" + b"hello from the capture rshd\n" + state + b"peer: %s\n" % peer[0].encode())
c.close()
