"""The buffered MQTT socket (qbus.mqtt_socket): paho reads and writes through it, so a flooded core
handles many packets per system call. Real sockets and a real Mosquitto: what must never happen
is a byte lost, reordered or left waiting (a reply that only goes out at the next keepalive)."""

from __future__ import annotations

import gc
import select
import socket
import threading
from collections.abc import Iterator

import pytest

from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.client import Received
from qbus.mqtt_socket import CHUNK, BufferedSocket
from qbus.topics import Topics
from tests.bus_helpers import Inbox
from tests.conftest import MakeBus


@pytest.fixture
def pair() -> Iterator[tuple[BufferedSocket, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    buffered = BufferedSocket(ours)
    try:
        yield buffered, theirs
    finally:
        buffered.close()
        theirs.close()


def test_small_reads_are_served_from_one_large_read(pair: tuple[BufferedSocket, socket.socket]) -> None:
    sock, peer = pair
    peer.sendall(b"\x30\x05hello\x30\x03abc")  # two packets, as paho reads them: type, length, body
    assert sock.recv(1) == b"\x30"
    assert sock.pending() == 11  # the rest was read with the first byte and is waiting here
    assert sock.recv(1) == b"\x05"
    assert sock.recv(5) == b"hello"
    assert [sock.recv(1), sock.recv(1), sock.recv(3)] == [b"\x30", b"\x03", b"abc"]
    assert sock.pending() == 0
    with pytest.raises(BlockingIOError):  # nothing more: paho's "try again later", as before
        sock.recv(1)
    peer.close()
    assert sock.recv(1) == b""  # the end of the stream still reads as paho expects


def test_a_body_longer_than_the_buffer_arrives_whole(pair: tuple[BufferedSocket, socket.socket]) -> None:
    sock, peer = pair
    body = bytes(range(256)) * (3 * CHUNK // 256)
    threading.Thread(target=peer.sendall, args=(body,), daemon=True).start()
    got = bytearray()
    while len(got) < len(body):
        try:
            got += sock.recv(len(body) - len(got))
        except BlockingIOError:
            select.select([sock], [], [], 5)  # nothing yet: wait, as paho's loop does
    assert bytes(got) == body


def test_corked_writes_go_out_in_one_send_in_order(pair: tuple[BufferedSocket, socket.socket]) -> None:
    sock, peer = pair
    sock.cork()
    for part in (b"puback-1", b"reply-1", b"puback-2"):
        assert sock.send(part) == len(part)  # paho counts them written
    peer.setblocking(False)
    with pytest.raises(BlockingIOError):
        peer.recv(100)  # nothing has left yet
    sock.uncork()
    peer.setblocking(True)
    assert peer.recv(100) == b"puback-1reply-1puback-2"


def test_what_the_socket_cannot_take_waits_for_the_next_turn_and_keeps_its_order(
        pair: tuple[BufferedSocket, socket.socket]) -> None:
    sock, peer = pair
    big = b"x" * (8 * 1024 * 1024)  # far more than the kernel buffers of a socket pair
    sock.cork()
    sock.send(big)
    sock.uncork()
    assert sock.unsent()  # the rest is kept, not dropped...
    assert sock.send(b"END") == 3  # ...and what comes later goes behind it, even uncorked
    got = bytearray()
    while len(got) < len(big) + 3:
        got += peer.recv(1 << 20)
        sock.uncork()  # paho's next loop_write, once the socket is writable again
    assert bytes(got[-3:]) == b"END" and len(got) == len(big) + 3
    assert not sock.unsent()


def test_close_sends_what_is_kept_first(pair: tuple[BufferedSocket, socket.socket]) -> None:
    """paho closes the socket right after writing DISCONNECT: it must still leave."""
    sock, peer = pair
    sock.cork()
    sock.send(b"\xe0\x00")  # DISCONNECT
    sock.close()
    assert peer.recv(10) == b"\xe0\x00"


def test_a_burst_arrives_whole_and_in_order(mosquitto: MosquittoBroker, make_bus: MakeBus,
                                            topics: Topics) -> None:
    """2,000 messages published at once: the subscriber's network thread reads many packets per
    turn from its buffer; none may be lost, doubled or reordered."""
    display = make_bus(mosquitto, "display1", connect=False)
    inbox = Inbox()
    display.subscribe(topics.notice(), m.Notice, inbox)
    display.connect(5)
    core = make_bus(mosquitto, "core", max_inflight=1000)
    for i in range(2000):
        core.publish(topics.notice(), m.Notice(zh=f"第{i}条", en=str(i)))
    assert inbox.wait_count(2000, timeout=20)
    assert [n.value.en for n in inbox.items] == [str(i) for i in range(2000)]


def test_a_reply_sent_from_a_handler_leaves_at_once(mosquitto: MosquittoBroker, make_bus: MakeBus,
                                                    topics: Topics) -> None:
    """A packet queued by the network thread itself (the core refusing a request in its message
    handler) gets no wake-up byte: the loop must still write it in its next turn, not at the next
    keepalive (15 s; the wait below is 5 s)."""
    echo = make_bus(mosquitto, "core", connect=False, keepalive_s=15)

    def answer(msg: Received[m.Notice]) -> None:
        echo.publish(topics.presence("echo"), m.Presence(device="echo", online=True, kind="core"), qos=0)

    echo.subscribe(topics.notice(), m.Notice, answer)
    echo.connect(5)
    watcher = make_bus(mosquitto, "manager", connect=False)
    seen = threading.Event()
    watcher.subscribe(topics.presence("echo"), m.Presence, lambda _msg: seen.set())
    watcher.connect(5)
    for i in range(3):
        seen.clear()
        watcher.publish(topics.notice(), m.Notice(zh="测试", en=str(i)))
        assert seen.wait(5), f"reply {i} sent from the handler did not leave"


def test_receiving_messages_leaves_no_garbage_for_the_collector(mosquitto: MosquittoBroker, make_bus: MakeBus,
                                                                topics: Topics) -> None:
    """paho's topic matcher made six objects of cyclic garbage per message received: under a flood
    the collector then stopped the core for 12-16 ms every two seconds (bench/abuse.py's tail)."""
    core = make_bus(mosquitto, "core", connect=False)
    got = Inbox()
    core.subscribe(topics.all_commands(), bytes, got)
    core.connect(5)
    kiosk = make_bus(mosquitto, "kiosk1", max_inflight=1000)
    gc.collect()
    gc.disable()
    try:
        for i in range(2000):
            kiosk.publish_raw(topics.cmd("kiosk1"), m.encode(m.Request(id=f"r{i}", cmd=m.Issue(business="cash"))))
        assert got.wait_count(2000, timeout=20)
        cyclic = gc.collect()
    finally:
        gc.enable()
    assert cyclic < 200, f"{cyclic} objects of cyclic garbage for 2,000 messages"
