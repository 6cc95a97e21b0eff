"""A dashfeed server started from Python, driven by the Node end-to-end tests over stdin/stdout.

Prints one JSON line {"port": N} once listening, then reads commands, one JSON object per line:
  {"op": "publish", "dashboard": "...", "data": {...}}  -> prints {"seq": N}
  {"op": "stop"}                                       -> graceful shutdown (clients get 1001), exits
"""

import json
import sys

import dashfeed


def main() -> None:
    hub = dashfeed.Hub()
    server = dashfeed.Server(hub, port=0)
    server.start()
    print(json.dumps({"port": server.port}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "publish":
            print(json.dumps({"seq": hub.publish(cmd["dashboard"], cmd["data"])}), flush=True)
        elif cmd["op"] == "stop":
            break
    server.stop()
    print(json.dumps({"stopped": True}), flush=True)


if __name__ == "__main__":
    main()
