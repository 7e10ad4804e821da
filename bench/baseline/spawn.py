# spawn: start /bin/true N times, one after the other, each with three
# descriptors at 3, 4 and 5 (subprocess.Popen with pass_fds keeps the
# numbers, so the descriptors are first moved there), waiting for each.
#
#   python3 spawn.py N
#
# Prints: RESULT <spawns/s> <seconds>
import os
import subprocess
import sys
import time

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
r, w = os.pipe()
m = os.open("/dev/null", os.O_RDWR)
for i, fd in enumerate((r, w, m)):
    tmp = os.dup(fd)
    os.dup2(tmp, 20 + i)
    os.close(tmp)
for fd in (r, w, m):
    os.close(fd)
for i in range(3):
    os.dup2(20 + i, 3 + i)
t0 = time.monotonic()
for _ in range(n):
    p = subprocess.Popen(["/bin/true"], pass_fds=(3, 4, 5))
    if p.wait() != 0:
        sys.exit(1)
dt = time.monotonic() - t0
print("RESULT %.1f %.3f" % (n / dt, dt))
