"""The ``dashfeed`` console script: ``dashfeed demo [--host H] [--port P] [--open]`` and
``dashfeed serve --config dashfeed.toml [--check]``.

The demo and the pipeline are the core's (``dashfeed._native.Demo``, ``Pipeline``); this only parses
arguments and waits for Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Optional, Sequence

from . import _native, connect


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


def serve(args: argparse.Namespace) -> int:
    try:
        pipeline = connect.Pipeline.from_file(args.config)
    except _native.DashfeedError as e:
        print(f"dashfeed serve: {e} (code {e.code})", file=sys.stderr)
        return 2
    if args.check:
        print(f"dashfeed serve: {args.config} is valid", flush=True)
        return 0
    stop = threading.Event()  # set by SIGINT / SIGTERM, also during a slow start
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        pipeline.start()
    except _native.DashfeedError as e:
        print(f"dashfeed serve: {e} (code {e.code})", file=sys.stderr)
        return 1
    print(f"dashfeed serve: listening at {pipeline.url}  (Ctrl-C to stop)", flush=True)
    while not stop.wait(0.5):
        pass
    print("dashfeed serve: stopping (sources commit, sinks flush)", flush=True)
    try:
        pipeline.stop()
    except _native.DashfeedError as e:
        print(f"dashfeed serve: {e} (code {e.code})", file=sys.stderr)
        return 1
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="dashfeed", description="dashfeed: real-time dashboard feed engine")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="run the live dashboard demo (no Redis or Kafka needed)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    p.add_argument("--open", action="store_true", help="open the page in a browser if one exists")
    p.set_defaults(run=demo)
    p = sub.add_parser("serve", help="run sources -> windows -> hub -> sinks and the server from a config file")
    p.add_argument("--config", required=True, help="the TOML config (see examples/dashfeed.toml)")
    p.add_argument("--check", action="store_true", help="validate the config and exit (0 when valid)")
    p.set_defaults(run=serve)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
