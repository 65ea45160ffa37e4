#!/usr/bin/env python3
"""An rsh client for the VM tests that picks its stderr port (BSD rsh's
rresvport takes one from 512-1023): it listens on STDERR-PORT, connects to
HOST:PORT, sends the stderr port and the user names and command as
NUL-terminated strings (rshd(8)), waits up to 8 s for the server's stderr
connection and prints what came on both, and the address the stderr
connection came from.

    rshclient.py HOST PORT STDERR-PORT"""
import socket, sys

host, port, errport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
ls = socket.socket(fam, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", errport))
ls.listen(1)
ls.settimeout(8)
c = socket.create_connection((host, port), timeout=20)
c.sendall(b"%d\0gonfct\0gonfct\0echo hello\0" % errport)
try:
    e, src = ls.accept()
    e.settimeout(5)
    print("stderr from:", src[0])
    print("stderr:", e.recv(1024).decode().strip())
except OSError as err:
    print("stderr: none (%s)" % err)
out = b""
while True:
    d = c.recv(1024)
    if not d:
        break
    out += d
print(out.lstrip(b"\0").decode().strip())
