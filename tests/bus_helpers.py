"""Test helpers for the bus: an inbox to wait on, a collector of printed lines, a stand-in core that
answers requests, and a child process that holds a bus connection until it is killed."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from qbus import messages as m
from qbus.broker import MosquittoBroker, free_port
from qbus.client import BusClient, Received
from qbus.config import BranchConfig
from qbus.provision import Provisioned, provision

CHILD = Path(__file__).with_name("bus_child.py")


class Inbox:
    """Collects what a handler receives; tests wait on a condition, never sleep."""

    def __init__(self) -> None:
        self.items: list[Received[Any]] = []
        self._cond = threading.Condition()

    def __call__(self, msg: Received[Any]) -> None:
        with self._cond:
            self.items.append(msg)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[list[Received[Any]]], object], timeout: float = 10.0) -> bool:
        """Whether `predicate` (any truthy answer) held within `timeout`."""
        with self._cond:
            return bool(self._cond.wait_for(lambda: predicate(self.items), timeout))

    def wait_count(self, n: int, timeout: float = 10.0) -> bool:
        return self.wait_for(lambda items: len(items) >= n, timeout)

    def values(self) -> list[Any]:
        with self._cond:
            return [r.value for r in self.items]


class Printed:
    """Collects the lines a tool prints (pass it as the tool's `out`); tests wait for a line."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()

    def __call__(self, line: str) -> None:
        with self._cond:
            self.lines.append(line)
            self._cond.notify_all()

    def mark(self) -> int:
        """Where the next line will go: pass as `since` to wait only for what comes after."""
        with self._cond:
            return len(self.lines)

    def wait_line(self, fragment: str, timeout: float = 10.0) -> bool:
        """Until a printed line contains `fragment`."""
        with self._cond:
            return self._cond.wait_for(lambda: any(fragment in x for x in self.lines), timeout)

    def wait_for(self, pred: Callable[[str], bool], timeout: float = 10.0, since: int | None = None) -> str:
        """The first line from `since` (default: now) that satisfies `pred`."""
        with self._cond:
            start = len(self.lines) if since is None else since
            ok = self._cond.wait_for(lambda: any(pred(x) for x in self.lines[start:]), timeout)
            assert ok, f"not shown within {timeout} s; last lines: {self.lines[-5:]}"
            return next(x for x in self.lines[start:] if pred(x))


class FakeCore:
    """Answers every request on cmd/+ with ok (number = request count), remembering each id seen.
    `drop_first=n` ignores the first n deliveries, as if they were lost."""

    def __init__(self, bus: BusClient, *, drop_first: int = 0) -> None:
        self.bus = bus
        self.seen: list[tuple[str, str, m.Request]] = []  # (device, id, request)
        self.applied: dict[str, m.Reply] = {}
        self.drop_first = drop_first
        self._cond = threading.Condition()
        bus.subscribe(bus.topics.all_commands(), m.decode_request, self._on_request)

    def _on_request(self, msg: Received[m.Request]) -> None:
        info = self.bus.topics.parse(msg.topic)
        device = info.device if info else "?"
        with self._cond:
            self.seen.append((device, msg.value.id, msg.value))
            self._cond.notify_all()
            if len(self.seen) <= self.drop_first:
                return
            reply = self.applied.get(msg.value.id)  # de-duplicate by request id, as the core does
            if reply is None:
                reply = m.Reply(id=msg.value.id, ok=True, number=f"A{len(self.applied) + 1:03d}")
                self.applied[msg.value.id] = reply
        self.bus.publish(self.bus.topics.reply(device), reply)

    def wait_seen(self, n: int, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.seen) >= n, timeout)


def start_child(host: str, port: int, prefix: str, branch: str, device: str) -> subprocess.Popen[str]:
    """A separate process holding a bus connection; returns once it reports being online."""
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), host, str(port), prefix, branch, device],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "online":
        proc.kill()
        proc.wait()
        raise RuntimeError(f"bus child did not come online: {line!r}")
    return proc


class RecordingBus:
    """The service's publishing side with no broker: every message it publishes, in order, each
    acknowledged at once (for tests of the service's own decisions, not of MQTT)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def publish_raw(self, topic: str, payload: bytes, *, retain: bool = False, qos: int = 1,
                    on_sent: Callable[[], None] | None = None) -> bool:
        self.sent.append((topic, payload))
        if on_sent is not None:
            on_sent()
        return True

    def on(self, topic: str) -> list[bytes]:
        """The payloads published on `topic`, oldest first."""
        return [p for t, p in self.sent if t == topic]


@contextmanager
def provisioned_broker(cfg: BranchConfig, root: Path) -> Iterator[tuple[MosquittoBroker, Provisioned]]:
    """`cfg` provisioned into `root`/etc, its own mosquitto.conf running on a free loopback port."""
    prov = provision(cfg, root / "etc", listen_port=free_port())
    with MosquittoBroker(root / "run", conf=prov.settings).start() as broker:
        yield broker, prov
