"""fdpass: NFDS descriptors per message over a unix seqpacket socketpair
between two Python processes (socket.send_fds / socket.recv_fds); the
receiver closes every descriptor it gets.

    python3 fdpass.py NFDS NMSGS

The receiver is a second interpreter started with subprocess.Popen and the
socket passed with pass_fds (its number given on the command line). It says "ready" first so the clock starts when
both sides run, and "done" after the last message, where the clock stops.
Prints: RESULT <messages/s> <fds/s> <seconds>
"""
import os
import socket
import subprocess
import sys
import time


def receiver(fd, nmsgs):
    s = socket.socket(fileno=fd)
    s.send(b"r")
    close = os.close
    recv_fds = socket.recv_fds
    for _ in range(nmsgs):
        _, fds, flags, _ = recv_fds(s, 4096, 253, socket.MSG_CMSG_CLOEXEC)
        if flags & socket.MSG_CTRUNC:
            sys.exit("MSG_CTRUNC")
        for fd in fds:
            close(fd)
    s.send(b"d")


def sender(nfds, nmsgs):
    try:
        # In-flight descriptors count against RLIMIT_NOFILE for
        # unprivileged senders; raise it as Go does at start-up. (Debian's
        # python3-minimal has no resource module.)
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except ImportError:
        pass
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    child = subprocess.Popen(
        [sys.executable, __file__, "recv", str(b.fileno()), str(nmsgs)],
        pass_fds=[b.fileno()])
    b.close()
    devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    fds = [devnull] * nfds
    if a.recv(1) != b"r":
        sys.exit("no ready")
    send_fds = socket.send_fds
    t0 = time.monotonic()
    for _ in range(nmsgs):
        send_fds(a, [b"m"], fds)
    if a.recv(1) != b"d":
        sys.exit("no done")
    dt = time.monotonic() - t0
    if child.wait() != 0:
        sys.exit("receiver failed")
    print("RESULT %.1f %.1f %.6f" % (nmsgs / dt, nmsgs * nfds / dt, dt))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "recv":
        receiver(int(sys.argv[2]), int(sys.argv[3]))
    elif len(sys.argv) == 3:
        sender(int(sys.argv[1]), int(sys.argv[2]))
    else:
        sys.exit("usage: fdpass.py NFDS NMSGS")
