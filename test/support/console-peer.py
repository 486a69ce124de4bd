"""The caller's end of runc's --console-socket protocol, as conmon or a containerd shim plays it.

    console-peer.py SOCKET

Listens on SOCKET and prints "ready"; accepts one connection, receives the pty master in one
recvmsg, proves it by talking through the slave named in the payload, then prints one JSON line:
{payload, fds, truncated, rows, cols, toSlave, toMaster}. Node cannot receive file descriptors,
hence Python. It binds relative to SOCKET's directory so that paths longer than sun_path work.
"""
import fcntl
import json
import os
import select
import socket
import struct
import sys
import termios
import tty

TIMEOUT_S = 5


def listen(path):
    os.chdir(os.path.dirname(path))
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(os.path.basename(path))
    server.listen(1)
    server.settimeout(TIMEOUT_S)
    return server


def read_exactly(fd, size):
    data = b""
    while len(data) < size:
        if not select.select([fd], [], [], TIMEOUT_S)[0]:
            break
        data += os.read(fd, size - len(data))
    return data.decode()


def window_size(master):
    rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(master, termios.TIOCGWINSZ, bytes(8)))
    return rows, cols


def main():
    server = listen(sys.argv[1])
    print("ready", flush=True)
    conn, _ = server.accept()
    payload, fds, flags, _ = socket.recv_fds(conn, 4096, 4)
    master = fds[0]
    rows, cols = window_size(master)
    slave = os.open(payload.decode(), os.O_RDWR | os.O_NOCTTY)
    # Raw: no echo or newline translation, so each side reads exactly what the other wrote.
    tty.setraw(slave)
    os.write(master, b"ping")
    to_slave = read_exactly(slave, 4)
    os.write(slave, b"pong")
    to_master = read_exactly(master, 4)
    print(json.dumps({
        "payload": payload.decode(),
        "fds": len(fds),
        "truncated": bool(flags & socket.MSG_CTRUNC),
        "rows": rows,
        "cols": cols,
        "toSlave": to_slave,
        "toMaster": to_master,
    }), flush=True)


main()
