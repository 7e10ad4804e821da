# What a socket-activated program sees: its environment, and each open
# descriptor with its kind (for sockets: family, type, listening or not,
# address, the mode of a socket file, IPV6_V6ONLY). Written to argv[1], so
# that stdout may be a connection (--inetd). Used by tests/tools_activate_test.go
# to compare fdwire activate with systemd-socket-activate.
import os, socket, stat, sys

out = []
for k in sorted(os.environ):
    v = os.environ[k]
    if k == "LISTEN_PID":
        v = "self" if v == str(os.getpid()) else "other:" + v
    out.append("env %s=%s" % (k, v))
for fd in range(0, 64):
    try:
        st = os.fstat(fd)
    except OSError:
        continue
    if not stat.S_ISSOCK(st.st_mode):
        kind = "fifo" if stat.S_ISFIFO(st.st_mode) else "chr" if stat.S_ISCHR(st.st_mode) else "file"
        out.append("fd %d %s" % (fd, kind))
        continue
    s = socket.socket(fileno=fd)
    fam = {socket.AF_UNIX: "unix", socket.AF_INET: "inet", socket.AF_INET6: "inet6"}.get(s.family, str(s.family))
    typ = {socket.SOCK_STREAM: "stream", socket.SOCK_DGRAM: "dgram", socket.SOCK_SEQPACKET: "seqpacket"}.get(s.type, str(s.type))
    listening = s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    name = s.getsockname()
    extra = ""
    if s.family == socket.AF_INET6:
        extra = " v6only=%d" % s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
    if isinstance(name, tuple):
        name = "%s:PORT" % name[0]
    elif isinstance(name, bytes):
        name = "@" + name[1:].decode()
    elif name:
        try:
            extra += " mode=%o" % stat.S_IMODE(os.stat(name).st_mode)
        except OSError:
            extra += " gone"
    cloexec = " cloexec" if not os.get_inheritable(fd) else ""
    out.append("fd %d socket %s %s %s %s%s%s" % (fd, fam, typ, "listening" if listening else "not-listening", name, extra, cloexec))
    s.detach()
with open(sys.argv[1], "w") as f:
    f.write("\n".join(out) + "\n")
