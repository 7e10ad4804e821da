"""relay: move BYTES from one pipe to another with os.splice.

    python3 relay.py RELAY_BIN BYTES

RELAY_BIN is the C baseline (relay.c), started as source and sink so that
only the relay in the middle differs from the C row.
Prints: RESULT <MB/s> <seconds>
"""
import os
import subprocess
import sys
import time

CHUNK = 65536


def main(relay_bin, nbytes):
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    src = subprocess.Popen([relay_bin, "source", str(nbytes)], stdout=in_w)
    snk = subprocess.Popen([relay_bin, "sink", str(nbytes)], stdin=out_r)
    os.close(in_w)
    os.close(out_r)
    splice = os.splice
    t0 = time.monotonic()
    while splice(in_r, out_w, CHUNK, flags=os.SPLICE_F_MOVE):
        pass
    os.close(out_w)
    ok = snk.wait() == 0
    dt = time.monotonic() - t0
    ok = src.wait() == 0 and ok
    if not ok:
        sys.exit("relay: source or sink failed")
    print("RESULT %.1f %.6f" % (nbytes / dt / 1e6, dt))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: relay.py RELAY_BIN BYTES")
    main(sys.argv[1], int(sys.argv[2]))
