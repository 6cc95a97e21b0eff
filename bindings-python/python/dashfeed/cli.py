"""The ``dashfeed`` console script: ``dashfeed demo [--host H] [--port P] [--open]``.

The demo itself is the core's (``dashfeed._native.Demo``); this only parses arguments and waits for Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Optional, Sequence

from . import _native


def demo(args: argparse.Namespace) -> int:
    d = _native.Demo(host=args.host, port=args.port, open=args.open)
    try:
        d.start()
    except _native.DashfeedError as e:
        print(f"dashfeed demo: {e} (code {e.code})", file=sys.stderr)
        return 1
    print(f"dashfeed demo: live dashboards at {d.url}  (Ctrl-C to stop)", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    print("dashfeed demo: stopping", flush=True)
    d.stop()
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="dashfeed", description="dashfeed: real-time dashboard feed engine")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="run the live dashboard demo (no Redis or Kafka needed)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    p.add_argument("--open", action="store_true", help="open the page in a browser if one exists")
    p.set_defaults(run=demo)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
