"""A bus client in its own process: connects, says "online" on stdout, then waits to be killed.

Used to check the Last Will: only a process that dies without saying goodbye triggers it."""

from __future__ import annotations

import sys

from qbus.client import BusClient
from qbus.topics import Topics


def main() -> None:
    host, port, prefix, branch, device = sys.argv[1:6]
    client = BusClient(host=host, port=int(port), topics=Topics(prefix, branch), device=device)
    client.connect(10.0)
    print("online", flush=True)
    sys.stdin.read()  # blocks until the parent closes stdin or kills us
    client.close()


if __name__ == "__main__":
    main()
