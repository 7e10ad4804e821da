"""procs: bring N processes up and down with subprocess.Popen: start N
"/bin/sleep 1000", then SIGTERM each and wait for all of them.

    python3 procs.py N

Prints: RESULT <seconds for up and down> <up seconds> <down seconds>
"""
import subprocess
import sys
import time


def main(n):
    t0 = time.monotonic()
    procs = [subprocess.Popen(["/bin/sleep", "1000"]) for _ in range(n)]
    t1 = time.monotonic()
    for p in procs:
        p.terminate()
    for p in procs:
        if p.wait() >= 0:
            sys.exit("procs: a child did not end by signal")
    t2 = time.monotonic()
    print("RESULT %.6f %.6f %.6f" % (t2 - t0, t1 - t0, t2 - t1))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: procs.py N")
    main(int(sys.argv[1]))
