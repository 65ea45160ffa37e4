#!/usr/bin/env python3
"""A real lobby server and client for the capture (see capture.sh).

  lobby.py server PORT MATCHPORT    answer one JOIN with MATCH MATCHPORT,
                                    then receive one UDP datagram there
  lobby.py client HOST PORT NAME    join, then send one datagram to the match
"""
import socket
import sys


def server(port, match_port):
    ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("::", port))
    ls.listen()
    udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    udp.bind(("::", match_port))
    c, _ = ls.accept()
    line = c.makefile("rb").readline()
    if not line.startswith(b"JOIN "):
        c.sendall(b"ERROR expected JOIN\r\n")
        return
    c.sendall(b"MATCH %d\r\n" % match_port)
    data, peer = udp.recvfrom(100)
    c.sendall(b"BYE\r\n")
    c.close()


def client(host, port, name):
    c = socket.create_connection((host, port))
    c.sendall(b"JOIN %s\r\n" % name.encode())
    f = c.makefile("rb")
    words = f.readline().split()
    assert words[0] == b"MATCH", words
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    u = socket.socket(fam, socket.SOCK_DGRAM)
    u.sendto(b"hello from " + name.encode(), (host, int(words[1])))
    f.readline()
    c.close()


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(int(sys.argv[2]), int(sys.argv[3]))
    else:
        client(sys.argv[2], int(sys.argv[3]), sys.argv[4])
