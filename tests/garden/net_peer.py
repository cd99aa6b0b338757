"""The "outside world" of the networking tests, run inside the test's outside network
namespace: TCP 9000 answers "pong\n" to every connection; UDP 53 records each datagram's
source in LOG ("udp <ip>") and answers; TCP 9002 swallows everything and records the byte
count of each connection ("sink <n>"). Usage: net_peer.py LOG READY_FILE"""

import socket
import sys
import threading

LOG = sys.argv[1]
lock = threading.Lock()


def record(line):
    with lock, open(LOG, "a") as f:
        f.write(line + "\n")


def listener(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(64)
    return s


def tcp_server(s, handler):
    while True:
        c, addr = s.accept()
        threading.Thread(target=handler, args=(c, addr), daemon=True).start()


def pong(c, addr):
    with c:
        record("tcp %s" % addr[0])
        c.sendall(b"pong\n")


def sink(c, addr):
    n = 0
    with c:
        while True:
            b = c.recv(65536)
            if not b:
                break
            n += len(b)
    record("sink %d" % n)


def udp(s):
    while True:
        data, addr = s.recvfrom(4096)
        record("udp %s" % addr[0])
        s.sendto(data[:2] + b"\x81\x83" + data[4:], addr)  # NXDOMAIN, whatever was asked


u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("0.0.0.0", 53))
threading.Thread(target=tcp_server, args=(listener(9000), pong), daemon=True).start()
threading.Thread(target=tcp_server, args=(listener(9002), sink), daemon=True).start()
threading.Thread(target=udp, args=(u,), daemon=True).start()
open(sys.argv[2], "w").close()
threading.Event().wait()
