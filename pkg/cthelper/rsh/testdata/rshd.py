#!/usr/bin/env python3
"""A minimal rshd for capture.sh (RFC-less BSD rsh protocol as rshd(8)
describes it): reads the client's stderr port and the three NUL-terminated
strings, connects back from a reserved port to the stderr port, answers
with a NUL byte and the command's output, and closes. One connection."""
import socket, sys

fam = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
ls = socket.socket(fam, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", 514)); ls.listen(1)
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
        try:
            err = socket.socket(fam, socket.SOCK_STREAM)
            err.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", lport))
            err.connect((peer[0], port))
            break
        except OSError:
            err.close(); err = None
c.send(b"\0" + b"hello from the capture rshd\n")
if err:
    err.send(b"and its stderr\n"); err.close()
c.close()
