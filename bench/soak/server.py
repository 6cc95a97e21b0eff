"""The server of a soak run: exactly ``python3 -m dashfeed demo|serve ...`` (``dashfeed.cli.main`` with these
arguments, in this process) plus one daemon thread that appends glibc's heap figures (``mallinfo2()``: bytes
in use, bytes free inside the heap, bytes mapped) as a JSON line to ``$DASHFEED_SOAK_HEAP`` every second, so
that bench/soak/run.py can tell growth of live allocations from memory the allocator keeps.

    python3 bench/soak/server.py demo --port 0
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import threading
import time


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def sampler(path: str) -> None:
    try:
        fn = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return  # not glibc >= 2.33: no heap figures
    fn.restype = MallInfo2
    with open(path, "a", encoding="utf-8") as out:
        while True:
            m = fn()
            out.write(json.dumps({"t": time.time(), "in_use": m.uordblks + m.hblkhd, "free": m.fordblks,
                                  "mapped": m.hblkhd, "arena": m.arena}) + "\n")
            out.flush()
            time.sleep(1)


if __name__ == "__main__":
    heap = os.environ.get("DASHFEED_SOAK_HEAP")
    if heap:
        threading.Thread(target=sampler, args=(heap,), daemon=True).start()
    from dashfeed import cli

    sys.exit(cli.main(sys.argv[1:]))
