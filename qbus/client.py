"""The one MQTT client every component uses: paho-mqtt 2.x, wrapped so the usual traps cannot bite.

Why a wrapper and not paho directly:
- an exception raised inside a paho callback kills its network thread without a word; every
  callback here is guarded and logged, and the client keeps running;
- subscriptions made outside `on_connect` are lost on reconnect; here they are (re)made in
  `on_connect`, so a device that comes back gets its retained state again;
- a device must show "offline" when it dies: a retained `Presence(online=False)` Last Will is set
  and a retained `Presence(online=True)` is published on every connect;
- a request must survive a reconnect without being applied twice: `request()` re-sends the SAME
  request id (on reconnect and every `retry_s`), and the core de-duplicates by it;
- a malformed payload is logged and counted, never passed to a handler, never fatal.

MQTT 3.1.1 only (the embedded amqtt broker speaks nothing else). Handlers run on the network
thread: keep them short, and never call `request()` from one (it would wait for itself).
"""

from __future__ import annotations

import functools
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from qbus import messages as m
from qbus.config.sections import BusSection
from qbus.errors import BusError, BusTimeout, ConfigError, PayloadError
from qbus.mqtt_socket import BufferedClient, raw_socket
from qbus.roles import role_of
from qbus.topics import Topics, check_device_id
from qbus.topics import packet_size as packet_size  # (where it was first defined; re-exported)

_LOG = logging.getLogger(__name__)
_PAHO_LOG = logging.getLogger(f"{__name__}.paho")
NO_ANSWER_ZH = "系统无响应"  # what a keypad or panel shows when the core did not answer in time
NO_ANSWER_EN = "The queue system did not answer"

T = TypeVar("T")
S = TypeVar("S", bound=msgspec.Struct)


@dataclass(frozen=True, slots=True)
class Received(Generic[T]):
    """One decoded message as a handler sees it. `retained`: replayed by the broker on subscribe,
    not news (a pad must not play "welcome" again for a retained output)."""

    topic: str
    value: T
    retained: bool


@dataclass(slots=True)
class _Handler:
    topic_filter: str
    qos: int
    decode: Callable[[bytes], Any]
    handle: Callable[[Received[Any]], None]


class _PahoLog:
    """paho's own log lines, under `qbus.client.paho`, prefixed with the device. paho logs every
    packet; given a logger it formats a line only when the level is enabled (an `on_log` callback
    gets every line formatted first: a tenth of a flooded core's network thread). Its network
    thread may run one last turn after close() and log "Client is not connected" as an error:
    that is our goodbye, not a fault."""

    def __init__(self, client: BusClient) -> None:
        self.client = client

    def log(self, level: int, fmt: str, *args: Any) -> None:
        if not _PAHO_LOG.isEnabledFor(level):
            return
        text = fmt % args if args else fmt
        if self.client._closed and text.startswith("Client is not connected"):
            level = logging.DEBUG
        _PAHO_LOG.log(level, "%s: %s", self.client.device, text)


@dataclass(slots=True)
class _Pending:
    request: m.Request
    topic: str
    done: threading.Event
    reply: m.Reply | None = None
    sends: int = 0


def new_request_id() -> str:
    """A fresh request id: random, so two devices (or a restarted one) never collide."""
    return uuid.uuid4().hex


class BusClient:
    """A device's connection to the branch bus. Register handlers, `start()`, then publish/request.

    `act_as` names other devices this client may send requests for (a serial bridge sending for
    `counter3` on `cmd/counter3`); their reply topics are subscribed too.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        topics: Topics,
        device: str,
        kind: str = "",
        username: str = "",
        password: str = "",
        keepalive_s: int = 15,
        command_timeout_s: float = 3.0,
        retry_s: float = 1.0,
        reconnect_min_s: float = 0.1,
        reconnect_max_s: float = 1.0,
        act_as: Iterable[str] = (),
        clean_session: bool = True,
        ca_file: str = "",
        max_packet_size: int = 65536,
        max_inflight: int = 20,
    ) -> None:
        self.topics = topics
        self.device = check_device_id(device)
        self.kind = kind or role_of(device)
        self.host, self.port = host, port
        self.command_timeout_s = command_timeout_s
        self.retry_s = retry_s
        self.act_as = tuple(check_device_id(d) for d in act_as)
        self.max_packet_size = max_packet_size
        self.oversized = 0
        self.on_online: Callable[[], None] | None = None
        self.on_offline: Callable[[], None] | None = None
        self.on_bad_payload: Callable[[str, PayloadError], None] | None = None
        self.bad_payloads = 0
        self.handler_errors = 0
        self._keepalive_s = keepalive_s
        self._lock = threading.Lock()
        self._handlers: list[_Handler] = []
        self._pending: dict[str, _Pending] = {}
        self._sent_callbacks: dict[int, Callable[[], None] | None] = {}
        self._early_acks: set[int] = set()
        self._online = False
        self._online_event = threading.Event()
        self._started = False
        self._closed = False
        self._last_error = ""
        self._refused = ""
        self._ready = False  # connected and the broker acknowledged our subscriptions
        self._ready_mid = -1
        self._link = threading.Condition()
        self._local = threading.local()
        self._mqtt = self._make_client(username, password, (reconnect_min_s, reconnect_max_s), clean_session)
        if ca_file:
            self._use_tls(ca_file)
        self._mqtt.max_inflight_messages_set(max_inflight)

    @classmethod
    def from_config(
        cls, bus: BusSection, branch: str, device: str, *, host: str | None = None,
        port: int | None = None, **kwargs: Any,
    ) -> BusClient:
        """A client for `device` from the branch's [bus] section. The username defaults to the device
        id; `password_file` may contain `{device}` so one branch file serves every device."""
        host = bus.host if host is None else host
        if not host:
            raise ConfigError("bus.host is empty: start the embedded broker (qbus.broker) and pass host/port")
        password = ""
        if bus.password_file:
            password = _read_password(Path(bus.password_file.format(device=device)))
        return cls(
            host=host, port=bus.port if port is None else port, topics=Topics(bus.prefix, branch),
            device=device, username=bus.username or (device if password else ""), password=password,
            keepalive_s=bus.keepalive_s, command_timeout_s=bus.command_timeout_s,
            ca_file=bus.ca_file if bus.tls else "",
            **{"reconnect_min_s": bus.reconnect_min_s, "reconnect_max_s": bus.reconnect_max_s,
               "max_packet_size": bus.max_packet_size, **kwargs},
        )

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> BusClient:
        """Connect in the background; paho reconnects with backoff for as long as the client lives."""
        with self._lock:
            if self._closed:
                raise BusError(f"{self.device}: client is closed")
            if self._started:
                return self
            self._started = True
        self._mqtt.connect_async(self.host, self.port, keepalive=self._keepalive_s)
        self._mqtt.loop_start()
        return self

    def connect(self, timeout: float = 10.0) -> BusClient:
        """`start()` and wait until online. BusError saying why if the broker refuses the credentials
        (at once: retrying will not fix a password) or cannot be reached within `timeout`."""
        self.start()
        with self._link:
            self._link.wait_for(lambda: self._ready or bool(self._refused), timeout)
            online, refused = self._ready, self._refused
        if refused and not online:
            raise BusError(f"{self.device}: {self.host}:{self.port} {refused}")
        if not online:
            raise BusError(f"{self.device}: not connected to {self.host}:{self.port} "
                           f"after {timeout:g} s ({self._last_error or 'no answer'})")
        return self

    def wait_online(self, timeout: float) -> bool:
        """Wait until connected with every subscription acknowledged (what `on_online` announces)."""
        return self._online_event.wait(timeout)

    @property
    def online(self) -> bool:
        """Connected to the broker (subscriptions may still be on their way: see wait_online)."""
        return self._online

    def close(self, timeout: float = 2.0) -> None:
        """Say goodbye (retained offline presence), disconnect, stop the thread. Safe twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending = list(self._pending.values())
        for p in pending:
            p.done.set()
        if self._online:
            goodbye = m.Presence(device=self.device, online=False, kind=self.kind, detail="closed")
            info = self._publish(self.topics.presence(self.device), m.encode(goodbye), 1, True)
            if info is not None and info.rc == mqtt.MQTT_ERR_SUCCESS and not self._in_callback():
                try:
                    info.wait_for_publish(timeout)
                except (RuntimeError, ValueError) as err:  # the link went while saying goodbye
                    _LOG.debug("%s: goodbye not acknowledged: %s", self.device, err)
        self._mqtt.disconnect()
        if self._started and not self._in_callback():
            self._mqtt.loop_stop()
        self._set_offline("closed")

    def __enter__(self) -> BusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ subscribing

    @overload
    def subscribe(
        self, topic_filter: str, kind: type[S], handler: Callable[[Received[S]], None], *, qos: int = 1,
    ) -> None: ...

    @overload
    def subscribe(
        self, topic_filter: str, kind: Callable[[bytes], T], handler: Callable[[Received[T]], None],
        *, qos: int = 1,
    ) -> None: ...

    def subscribe(
        self, topic_filter: str, kind: Any, handler: Callable[[Received[Any]], None], *, qos: int = 1,
    ) -> None:
        """Deliver messages matching `topic_filter`, decoded, to `handler`.

        `kind` is a message struct (`m.CounterState`) or a decoding function (`m.decode_event`,
        `m.decode_request`, `bytes` for raw payloads). Register before `start()` to be sure to get
        retained state; later registrations subscribe at once when online.
        """
        entry = _Handler(topic_filter, qos, _decoder_for(kind), handler)
        with self._lock:
            self._handlers.append(entry)
            now = self._online
        if now:
            self._mqtt.subscribe(topic_filter, qos)

    # ------------------------------------------------------------------ publishing

    def publish(
        self, topic: str, msg: msgspec.Struct, *, retain: bool = False, qos: int = 1,
        on_sent: Callable[[], None] | None = None,
    ) -> bool:
        """Publish a message struct (thread-safe). QoS 1 while offline is queued in memory and sent on
        reconnect. `on_sent` runs (on the network thread) once the broker acknowledged it. Returns
        False if the message was dropped (QoS 0 while offline, or the queue is full)."""
        return self.publish_raw(topic, m.encode(msg), retain=retain, qos=qos, on_sent=on_sent)

    def publish_raw(
        self, topic: str, payload: bytes, *, retain: bool = False, qos: int = 1,
        on_sent: Callable[[], None] | None = None,
    ) -> bool:
        """Publish bytes as they are (tests and fuzzers send malformed payloads this way)."""
        if self._closed:
            raise BusError(f"{self.device}: client is closed")
        return self._publish(topic, payload, qos, retain, on_sent) is not None

    def _publish(
        self, topic: str, payload: bytes, qos: int, retain: bool, on_sent: Callable[[], None] | None = None,
    ) -> mqtt.MQTTMessageInfo | None:
        """Every publish goes through here, so every acknowledged mid is matched (a stray ack left
        over would otherwise fire a later message's on_sent early when paho reuses the mid).
        A packet over the broker's max_packet_size is refused here: the broker would drop the
        connection for it (and a QoS 1 message would be sent again on every reconnect)."""
        size = packet_size(topic, payload)
        if size > self.max_packet_size:
            self.oversized += 1
            _LOG.error("%s: not publishing %d bytes on %s: over the broker's max_packet_size %d",
                       self.device, size, topic, self.max_packet_size)
            return None
        try:
            info = self._mqtt.publish(topic, payload, qos, retain)
        except ValueError as err:
            raise BusError(f"{self.device}: cannot publish on {topic!r}: {err}") from err
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            _LOG.warning("%s: publish on %s refused by the client: %s", self.device, topic,
                         mqtt.error_string(info.rc))
            return None
        self._track(info.mid, on_sent)
        if qos == 0 and info.rc == mqtt.MQTT_ERR_NO_CONN:
            return None  # QoS 0 is not kept for a reconnect
        return info

    def _track(self, mid: int, on_sent: Callable[[], None] | None) -> None:
        """Remember what to run when `mid` is acknowledged. The PUBACK may already have arrived
        (paho can ack before publish() returns), hence the early-ack set."""
        with self._lock:
            if mid in self._early_acks:
                self._early_acks.discard(mid)
                run = True
            else:
                self._sent_callbacks[mid] = on_sent
                run = False
        if run and on_sent is not None:
            self._run_guarded("on_sent", on_sent)

    # ------------------------------------------------------------------ requests

    def request(
        self, cmd: m.Command, timeout: float | None = None, *, device: str | None = None,
        request_id: str | None = None,
    ) -> m.Reply:
        """Send one command to the core and wait for its reply (ok or error; never both, never lost).

        The request keeps one id: it is re-sent with that id on every reconnect and every `retry_s`
        until the reply comes, so the core (which de-duplicates by id) applies it exactly once.
        BusTimeout after `timeout` (default `command_timeout_s`); BusError if the client closes.
        """
        sender = device or self.device
        if sender != self.device and sender not in self.act_as:
            raise BusError(f"{self.device} may not send for {sender!r} (not in act_as)")
        if self._in_callback():
            raise BusError("request() inside a bus handler would wait for itself; use another thread")
        if self._closed:
            raise BusError(f"{self.device}: client is closed")
        rid = request_id or new_request_id()
        pending = _Pending(m.Request(id=rid, cmd=cmd), self.topics.cmd(sender), threading.Event())
        with self._lock:
            self._pending[rid] = pending
        try:
            return self._await_reply(pending, self.command_timeout_s if timeout is None else timeout)
        finally:
            with self._lock:
                self._pending.pop(rid, None)

    def answer(self, cmd: m.Command, *, device: str | None = None) -> tuple[bool, str]:
        """`request()` for a device with a small display (keypad, pad, software panel): whether the
        core accepted `cmd`, and the Chinese text to show if not. No answer in time (or the client
        closing) is (False, NO_ANSWER_ZH); both outcomes are logged."""
        ok, zh, _en = self.answer_text(cmd, device=device)
        return ok, zh

    def answer_text(self, cmd: m.Command, *, device: str | None = None) -> tuple[bool, str, str]:
        """`answer()` with the reason in English too (the software panel shows both)."""
        sender = device or self.device
        try:
            reply = self.request(cmd, device=device)
        except BusError as err:  # BusTimeout included: the core did not answer in time
            _LOG.warning("%s: %s not answered: %s", sender, type(cmd).__name__, err)
            return False, NO_ANSWER_ZH, NO_ANSWER_EN
        if reply.error is not None:
            _LOG.info("%s: %s refused (%s)", sender, type(cmd).__name__, reply.error.code)
            return reply.ok, reply.error.zh, reply.error.en
        return reply.ok, "", ""

    def _await_reply(self, pending: _Pending, timeout: float) -> m.Reply:
        deadline = time.monotonic() + timeout
        while True:
            if self._online:
                self._send_request(pending)
            remaining = deadline - time.monotonic()
            if pending.done.wait(max(0.0, min(self.retry_s, remaining))):
                break
            if time.monotonic() >= deadline:
                raise BusTimeout(f"{self.device}: no reply to {op_name(pending.request.cmd)} "
                                 f"(request {pending.request.id}) within {timeout:g} s")
        if pending.reply is None:
            raise BusError(f"{self.device}: client closed while waiting for request {pending.request.id}")
        return pending.reply

    def _send_request(self, pending: _Pending) -> None:
        pending.sends += 1
        if pending.sends > 1:
            _LOG.info("%s: re-sending request %s (%s), try %d", self.device, pending.request.id,
                      op_name(pending.request.cmd), pending.sends)
        self._publish(pending.topic, m.encode(pending.request), 1, False)

    def _on_reply(self, msg: Received[m.Reply]) -> None:
        with self._lock:
            pending = self._pending.get(msg.value.id)
        if pending is None:
            _LOG.debug("%s: reply %s matches no waiting request (late or not ours)", self.device, msg.value.id)
            return
        pending.reply = msg.value
        pending.done.set()

    # ------------------------------------------------------------------ paho plumbing

    def _use_tls(self, ca_file: str) -> None:
        """TLS 1.2+ with the branch CA; the broker's certificate must name `host` (PINs and
        passwords cross the LAN inside it)."""
        import ssl

        if not Path(ca_file).is_file():
            raise ConfigError(f"bus.ca_file {ca_file}: no such file (copy ca.crt from `qcall provision`'s output)")
        ctx = ssl.create_default_context(cafile=ca_file)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self._mqtt.tls_set_context(ctx)

    def _make_client(self, username: str, password: str, backoff: tuple[float, float],
                     clean: bool) -> mqtt.Client:
        client = BufferedClient(
            CallbackAPIVersion.VERSION2,
            client_id=f"{self.topics.prefix}-{self.topics.branch}-{self.device}".replace("/", "-"),
            clean_session=clean,
            protocol=mqtt.MQTTv311,
        )
        client.enable_logger(_PahoLog(self))  # type: ignore[arg-type]  # paho only calls .log()
        if username:
            client.username_pw_set(username, password or None)
        will = m.Presence(device=self.device, online=False, kind=self.kind, detail="lost")
        client.will_set(self.topics.presence(self.device), m.encode(will), qos=1, retain=True)
        low, high = max(0.05, backoff[0]), max(backoff[0], backoff[1])
        client.reconnect_delay_set(low, high)  # type: ignore[arg-type]  # paho sleeps floats fine
        client.on_connect = self._guard("on_connect", self._handle_connect)
        client.on_disconnect = self._guard("on_disconnect", self._handle_disconnect)
        client.on_connect_fail = self._guard("on_connect_fail", self._handle_connect_fail)
        client.on_message = self._guard("on_message", self._handle_message)
        client.on_publish = self._guard("on_publish", self._handle_publish)
        client.on_subscribe = self._guard("on_subscribe", self._handle_subscribe)
        client.on_socket_open = self._guard("on_socket_open", _no_delay)
        return client

    def _guard(self, name: str, fn: Callable[..., None]) -> Callable[..., None]:
        """Wrap a paho callback: an exception escaping it would kill the network thread silently."""

        def guarded(*args: Any) -> None:
            self._local.in_callback = True
            try:
                fn(*args)
            except Exception:
                _LOG.exception("%s: %s failed; the client carries on", self.device, name)
            finally:
                self._local.in_callback = False

        return guarded

    def _in_callback(self) -> bool:
        return bool(getattr(self._local, "in_callback", False))

    def _run_guarded(self, what: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:
            self.handler_errors += 1
            _LOG.exception("%s: %s callback failed", self.device, what)

    def _handle_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any,
    ) -> None:
        if reason.is_failure:
            self._set_error(f"refused: {reason}")
            with self._link:
                self._refused = f"refused: {reason}"
                self._link.notify_all()
            return
        hello = m.Presence(device=self.device, online=True, kind=self.kind)
        self._publish(self.topics.presence(self.device), m.encode(hello), 1, True)
        with self._lock:
            self._online = True
            filters = [(h.topic_filter, h.qos) for h in self._handlers]
            pending = list(self._pending.values())
        replies = [(self.topics.reply(d), 1) for d in dict.fromkeys((self.device, *self.act_as))]
        # One SUBSCRIBE for everything; the client counts as ready when its SUBACK is back, so a
        # message published after connect() returns cannot slip past a subscription not yet made.
        _rc, mid = client.subscribe(list(dict.fromkeys(replies + filters)))
        self._ready_mid = -1 if mid is None else mid
        for p in pending:  # same id again: the core answers from its de-duplication cache
            self._send_request(p)
        self._last_error = ""

    def _handle_subscribe(
        self, _client: mqtt.Client, _userdata: Any, mid: int, reasons: list[Any], _props: Any,
    ) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            _LOG.warning("%s: broker refused %d subscription(s): %s", self.device, len(refused), refused)
        if mid != self._ready_mid:
            return
        with self._link:
            self._ready, self._refused = True, ""
            self._link.notify_all()
        self._online_event.set()
        _LOG.info("%s: online at %s:%s", self.device, self.host, self.port)
        if self.on_online is not None:
            self._run_guarded("on_online", self.on_online)

    def _handle_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any,
    ) -> None:
        if reason.is_failure and self._online:  # after a refusal, keep the refusal as the reason
            self._set_error(f"link lost: {reason}")
        self._set_offline(str(reason))

    def _handle_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        self._set_error(f"cannot reach {self.host}:{self.port}")

    def _set_error(self, text: str) -> None:
        if text != self._last_error:
            _LOG.warning("%s: %s", self.device, text)
        self._last_error = text

    def _set_offline(self, why: str) -> None:
        with self._lock:
            was_online, self._online = self._online, False
        with self._link:
            self._ready = False
        self._online_event.clear()
        if was_online:
            _LOG.info("%s: offline (%s)", self.device, why)
            if self.on_offline is not None:
                self._run_guarded("on_offline", self.on_offline)

    def _handle_publish(self, _client: mqtt.Client, _userdata: Any, mid: int, _rc: Any, _props: Any) -> None:
        with self._lock:
            if mid in self._sent_callbacks:
                on_sent = self._sent_callbacks.pop(mid)
            else:
                self._early_acks.add(mid)
                on_sent = None
        if on_sent is not None:
            self._run_guarded("on_sent", on_sent)

    def _handle_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            self._bad_payload("<undecodable topic>", PayloadError("topic is not UTF-8"))
            return
        if self._is_reply_topic(topic):
            self._deliver_reply(topic, message)
        with self._lock:
            handlers = [h for h in self._handlers if _matches(h.topic_filter, topic)]
        payload = bytes(message.payload)
        for h in handlers:
            try:
                value = h.decode(payload)
            except PayloadError as err:
                self._bad_payload(topic, err)
                continue
            self._run_guarded(f"handler for {h.topic_filter}",
                              functools.partial(h.handle, Received(topic, value, bool(message.retain))))

    def _is_reply_topic(self, topic: str) -> bool:
        info = self.topics.parse(topic)
        return info is not None and info.kind == "reply" and info.device in (self.device, *self.act_as)

    def _deliver_reply(self, topic: str, message: mqtt.MQTTMessage) -> None:
        try:
            reply = _decode_reply(bytes(message.payload))
        except PayloadError as err:
            self._bad_payload(topic, err)
            return
        self._on_reply(Received(topic, reply, bool(message.retain)))

    def _bad_payload(self, topic: str, err: PayloadError) -> None:
        self.bad_payloads += 1
        _LOG.warning("%s: dropped malformed payload on %s: %s", self.device, topic, err)
        if self.on_bad_payload is not None:
            callback = self.on_bad_payload
            self._run_guarded("on_bad_payload", lambda: callback(topic, err))


@functools.lru_cache(maxsize=4096)
def _matches(topic_filter: str, topic: str) -> bool:
    """paho's topic_matches_sub builds a matcher on every call; a bus repeats few topics."""
    return bool(mqtt.topic_matches_sub(topic_filter, topic))


def _no_delay(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
    """Turn off Nagle's algorithm as soon as the socket opens (before CONNECT): paho leaves it on,
    and a small request then waits ~40 ms for a delayed ACK on each hop (88 ms request -> reply
    on loopback instead of about 1 ms)."""
    sock = raw_socket(sock)
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as err:
            _LOG.debug("TCP_NODELAY not set: %s", err)


tcp_no_delay = _no_delay  # for paho clients made outside BusClient (head office's ingest)


def op_name(cmd: m.Command) -> str:
    tag = type(cmd).__struct_config__.tag
    return tag if isinstance(tag, str) else type(cmd).__name__


_reply_decoder = msgspec.json.Decoder(m.Reply)


def _decode_reply(data: bytes) -> m.Reply:
    try:
        return _reply_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as err:
        raise PayloadError(f"bad Reply: {err}", zh="回复格式错误") from err


def _decoder_for(kind: Any) -> Callable[[bytes], Any]:
    """A bytes -> value function raising only PayloadError, for a struct type or a decode function."""
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        decoder = msgspec.json.Decoder(kind)
        name = kind.__name__

        def decode_struct(data: bytes) -> Any:
            try:
                return decoder.decode(data)
            except (msgspec.DecodeError, msgspec.ValidationError) as err:
                raise PayloadError(f"bad {name}: {err}", zh="消息格式错误") from err

        return decode_struct
    if not callable(kind):
        raise TypeError(f"subscribe(): kind must be a message struct or a decode function, not {kind!r}")

    def decode_with(data: bytes) -> Any:
        try:
            return kind(data)
        except PayloadError:
            raise
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError, TypeError) as err:
            raise PayloadError(f"bad payload: {err}", zh="消息格式错误") from err

    return decode_with


def _read_password(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ConfigError(f"bus.password_file {path}: cannot read: {err.strerror}") from err

