#!/usr/bin/env python3
# A connector client in ten lines (protocol: docs/anon.md, "Connectors").
# Give it a connector at fd 3:  proc.spawn{"python3", "scripts/connector-client.py", fds = {[3] = sock.connector(addr)}}
import os, socket, sys
c = socket.socket(fileno=3)
c.send(b"C")                                    # request: one message starting with 'C'
msg, fds, _, _ = socket.recv_fds(c, 4, 1)       # reply: int32 errno, and the socket when 0
err = int.from_bytes(msg, sys.byteorder, signed=True)
if err:
    sys.exit("connector: " + os.strerror(err))
s = socket.socket(fileno=fds[0])
s.sendall(b"hello through a connector\n")
