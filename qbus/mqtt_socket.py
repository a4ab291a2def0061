"""paho's socket, read and written in large chunks: what keeps a flooded core answering everyone.

paho 2.x (the lock pins 2.2) handles one MQTT packet per turn of its network loop, and each packet
costs several system calls: at least three `recv()` (packet type, length, body), a `select()`, a
`send()` for every packet out and a wake-up byte on an internal socket pair for every packet
queued, even by its own thread. Under a flood of small requests (bench/abuse.py: 5,000 a second
from one kiosk) that is most of the core's network thread, and every call releases and re-takes
the GIL, so the service thread and the network thread keep handing it to each other while the
broker queues the other devices' requests behind the flood.

`BufferedSocket` reads up to 64 kB per call and serves paho's small reads from that buffer, and
holds the packets paho writes during one `loop_write()` until its end: one `send()` for all of
them. `BufferedClient` reads every complete packet already buffered in one loop turn (paho's loop
asks `pending()`, as it does for TLS, so buffered bytes never wait for `select()`), and queues a
packet from its own network thread without the wake-up byte (the loop writes after this turn).
Everything else (TLS, socket options, fileno, close) goes to the real socket unchanged. Its topic
matcher leaves no garbage behind per message (`_CallbackMatcher`).
"""

from __future__ import annotations

import socket
import ssl
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.matcher import MQTTMatcher

CHUNK = 65536
READ_BURST = 32  # packets read per loop turn at most: a reply the service thread queued waits for at most this many


class BufferedSocket:
    """A connected (TCP or TLS) socket with a read buffer and a write buffer."""

    def __init__(self, sock: Any) -> None:
        self.raw = sock
        self._buf = b""
        self._pos = 0
        self._out = bytearray()
        self._corked = False

    # ------------------------------------------------------------------ reading

    def recv(self, bufsize: int) -> bytes:
        """Up to `bufsize` bytes: from the buffer, else one large read of the socket. Exceptions
        (BlockingIOError, ssl.SSLWantReadError, OSError) and the empty read at EOF pass as they
        are, so paho handles them as it always has."""
        if self._pos >= len(self._buf):
            data = self.raw.recv(max(bufsize, CHUNK))
            if len(data) <= bufsize:
                return bytes(data)
            self._buf, self._pos = bytes(data), 0
        start = self._pos
        self._pos = min(len(self._buf), start + bufsize)
        return self._buf[start:self._pos]

    def buffered(self) -> int:
        """Bytes read from the socket and not yet handed to paho."""
        return len(self._buf) - self._pos

    def pending(self) -> int:
        """What paho's loop asks before `select()`: bytes that are here already (TLS's too)."""
        inner = self.raw.pending() if hasattr(self.raw, "pending") else 0
        return self.buffered() + int(inner)

    # ------------------------------------------------------------------ writing

    def send(self, data: bytes | bytearray | memoryview) -> int:
        """While corked, or while earlier bytes wait for the socket: keep them (in order)."""
        if self._corked or self._out:
            self._out += data
            return len(data)
        return int(self.raw.send(data))

    def cork(self) -> None:
        self._corked = True

    def uncork(self) -> None:
        """Send what was kept; what the socket cannot take now waits for the next turn (paho's loop
        waits for the socket to be writable while `unsent()`). OSError means the link is gone."""
        self._corked = False
        while self._out:
            try:
                sent = self.raw.send(self._out)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            del self._out[:sent]

    def unsent(self) -> bool:
        return bool(self._out)

    def close(self) -> None:
        """paho closes the socket right after writing DISCONNECT, inside the corked turn: send
        what is kept first, or the broker sees a lost link (and publishes the Last Will)."""
        try:
            self.uncork()
        except OSError:
            pass  # the link is gone anyway
        self.raw.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


class _CallbackMatcher(MQTTMatcher):
    """paho looks up per-topic callbacks for every message it receives, and its matcher builds a
    self-referencing closure each time: six objects of cyclic garbage per message, which under a
    flood made the collector stop the core's process for 12-16 ms every two seconds (bench/abuse.py).
    The bus client registers no per-topic callbacks (it dispatches itself): with none, nothing."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # paho's matcher has no type hints

    def iter_match(self, topic: str) -> Any:
        if not self._root._children:
            return iter(())
        return super().iter_match(topic)  # type: ignore[no-untyped-call]


class BufferedClient(mqtt.Client):
    """paho's client on a BufferedSocket: several packets per loop turn, one send per turn."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_message_filtered = _CallbackMatcher()

    def _create_socket(self) -> Any:
        return BufferedSocket(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        turns = 1
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and turns < READ_BURST:
            sock = self._sock
            if not isinstance(sock, BufferedSocket) or sock.buffered() == 0:
                break
            rc = super().loop_read(max_packets)
            turns += 1
        return rc

    def loop_write(self) -> MQTTErrorCode:
        sock = self._sock
        if not isinstance(sock, BufferedSocket):
            return super().loop_write()
        sock.cork()
        try:
            rc = super().loop_write()
        finally:
            try:
                sock.uncork()
            except OSError as err:
                self._easy_log(mqtt.MQTT_LOG_ERR, "failed to send on socket: %s", err)
                rc = self._loop_rc_handle(MQTTErrorCode.MQTT_ERR_CONN_LOST)
        return rc

    def want_write(self) -> bool:
        sock = self._sock
        return super().want_write() or (isinstance(sock, BufferedSocket) and sock.unsent())

    def _packet_queue(self, command: int, packet: bytes | bytearray, mid: int, qos: int,
                      info: mqtt.MQTTMessageInfo | None = None) -> MQTTErrorCode:
        """On the network thread itself (a PUBACK, a reply sent from a message handler) the packet
        is written after this loop turn: no wake-up byte through the socket pair."""
        if self._thread is None or threading.current_thread() is not self._thread:
            return super()._packet_queue(command, packet, mid, qos, info)
        self._out_packet.append({"command": command, "mid": mid, "qos": qos, "pos": 0,
                                 "to_process": len(packet), "packet": packet, "info": info})
        return MQTTErrorCode.MQTT_ERR_SUCCESS


def raw_socket(sock: Any) -> socket.socket | None:
    """The OS socket under a BufferedSocket (or `sock` itself), for socket options."""
    inner = sock.raw if isinstance(sock, BufferedSocket) else sock
    return inner if isinstance(inner, socket.socket) else None
