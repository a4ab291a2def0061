"""MQTT brokers the project starts itself: the embedded demo broker and a Mosquitto launcher.

- `EmbeddedBroker`: amqtt 0.12 (pure Python, MQTT 3.1.1) in its own thread and asyncio loop, so
  `./run.sh demo` needs nothing installed by hand. Demo only: amqtt has an open report of memory
  growth in long-running brokers (Yakifo/amqtt#123); a branch runs Mosquitto.
- `MosquittoBroker`: runs the real `mosquitto` binary on a loopback port with a generated config
  (persistence, optional password file and ACL), for tests and benchmarks; kill / restart it to
  rehearse a broker crash.
- `MosquittoConf`: the config text, shared with `qbus.provision` so tests run the settings a
  branch ships.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from qbus.errors import BrokerError

_LOG = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------------- embedded


def _amqtt_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """amqtt 0.12.1 iterates its subscription table while another client's SUBSCRIBE changes it,
    so when the demo's devices connect at once one connection can fail with "dictionary changed
    size during iteration". That client's link drops and it reconnects by itself (BusClient), so
    this known race is one warning line, not a traceback in the demo's output; anything else is
    reported as asyncio reports it."""
    err = context.get("exception")
    if isinstance(err, RuntimeError) and "changed size during iteration" in str(err):
        _LOG.warning("embedded broker: amqtt dropped a connecting client (its subscription race); "
                     "the client reconnects")
        return
    loop.default_exception_handler(context)


class EmbeddedBroker:
    """amqtt running in-process on a loopback port. `with EmbeddedBroker() as b: ... b.port`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None

    def start(self, timeout: float = 10.0) -> EmbeddedBroker:
        """Start listening; returns once clients can connect. BrokerError if it cannot bind."""
        if self._thread is not None:
            return self
        ready: threading.Event = threading.Event()
        failure: list[BaseException] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run, args=(ready, failure), name=f"amqtt-{self.host}:{self.port}", daemon=True,
        )
        self._thread.start()
        if not ready.wait(timeout):
            self.stop()
            raise BrokerError(f"embedded broker did not start within {timeout:g} s")
        if failure:
            self._thread.join(timeout)
            self._thread = None
            raise BrokerError(f"embedded broker on {self.host}:{self.port}: {failure[0]}") from failure[0]
        _LOG.warning("embedded amqtt broker on %s:%d (demo only, not for a branch: use Mosquitto)",
                     self.host, self.port)
        return self

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = self._loop
        if loop is None:
            return
        asyncio.set_event_loop(loop)
        loop.set_exception_handler(_amqtt_exception)
        try:
            loop.run_until_complete(self._start_broker())
        except Exception as err:  # reported to start(), which raises BrokerError
            failure.append(err)
            ready.set()
            _close_loop(loop)
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            _close_loop(loop)

    async def _start_broker(self) -> None:
        from amqtt.broker import Broker  # imported here: the demo is its only user

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        self._broker = Broker(config)
        await self._broker.start()
        if self.port == 0:  # the OS picked one: read it back from the listening socket
            server = self._broker._servers["default"].instance
            self.port = int(server.sockets[0].getsockname()[1])

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the broker down and join its thread. Safe twice."""
        loop, thread, broker = self._loop, self._thread, self._broker
        self._thread = self._broker = None
        if loop is None or thread is None:
            return
        if broker is not None and loop.is_running():
            future = asyncio.run_coroutine_threadsafe(_shutdown(broker, timeout / 2), loop)
            try:
                future.result(timeout)
            except Exception:  # stopping anyway: the loop's tasks are cancelled below
                _LOG.exception("embedded broker did not shut down cleanly")
        if loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._loop = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _shutdown(broker: Any, timeout: float) -> None:
    """amqtt 0.12's shutdown() hangs while a client is still connected (its reader task never
    finishes cancelling), so first stop listening and drop every client connection, then shut down.
    Reaches into amqtt's internals: pinned to amqtt==0.12.1 in pyproject."""
    for server in broker._servers.values():
        if server.instance is not None:
            server.instance.close()
    for _session, handler in list(broker._sessions.values()):
        writer = getattr(getattr(handler, "writer", None), "_writer", None)
        if writer is not None:
            writer.transport.abort()
    try:
        await asyncio.wait_for(broker.shutdown(), timeout)
    except TimeoutError:
        _LOG.warning("embedded broker: shutdown took over %.1f s; cancelling what is left", timeout)


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what amqtt left running so the loop closes without 'task was destroyed' noise."""
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.close()


# ---------------------------------------------------------------------------------- mosquitto


@dataclass(frozen=True, slots=True)
class MosquittoConf:
    """The settings a qcall broker runs with; `render()` gives mosquitto.conf text."""

    host: str = "127.0.0.1"
    port: int = 1883
    persistence_dir: str = "/var/lib/mosquitto/"
    password_file: str = ""
    acl_file: str = ""
    log_dest: str = "syslog"
    run_as_root: bool = False
    autosave_interval_s: int = 60
    # Per client, beyond those in flight; past it the broker DROPS messages to that client. The
    # core reads every command: a kiosk flooding at 5,000/s while the Pi's CPU is busy filled 1000
    # in a fraction of a second and requests vanished without a reply (bench/abuse.py). 10000
    # small messages are a few MB at most.
    max_queued_messages: int = 10000
    max_packet_size: int = 65536
    # A drop-in for Debian's /etc/mosquitto/conf.d/: the main file already sets pid_file,
    # persistence_location and log_dest, and mosquitto refuses a second persistence_location.
    conf_d: bool = False
    # The client id is the user name: nobody can take over (and so disconnect) another user's
    # session by connecting with its client id, e.g. the core's.
    username_as_clientid: bool = False
    # TLS listener (all three or none): the branch CA, the broker's certificate and key.
    cafile: str = ""
    certfile: str = ""
    keyfile: str = ""
    # Head office (qbus.hqlink): a bridge's queue in bytes too (0: no byte bound), how many QoS 1
    # messages may be unacknowledged per client (a batching ingest acks after its commit), and text
    # appended at the very end: a bridge section, since every line after `connection` is the bridge's.
    max_queued_bytes: int = 0
    max_inflight_messages: int = 20
    tail: str = ""

    def render(self, header: str = "") -> str:
        lines = [f"# {line}" if line else "#" for line in header.splitlines()]
        lines += [
            "per_listener_settings false",
            f"listener {self.port} {self.host}",
            "protocol mqtt",
        ]
        if self.certfile:
            lines += [f"cafile {self.cafile}", f"certfile {self.certfile}", f"keyfile {self.keyfile}",
                      "tls_version tlsv1.2"]
        if self.username_as_clientid:
            lines += ["use_username_as_clientid true"]
        if self.password_file:
            lines += ["allow_anonymous false", f"password_file {self.password_file}"]
        else:
            lines += ["allow_anonymous true"]
        if self.acl_file:
            lines += [f"acl_file {self.acl_file}"]
        if self.conf_d:
            lines += [f"autosave_interval {self.autosave_interval_s}"]
        elif self.persistence_dir:
            lines += [
                "persistence true",
                f"persistence_location {self.persistence_dir.rstrip('/')}/",
                f"autosave_interval {self.autosave_interval_s}",
            ]
        else:
            lines += ["persistence false"]
        lines += [
            # Without this, Nagle's algorithm holds small packets ~40 ms on each hop: a request
            # and its reply took 88 ms on loopback instead of ~3 ms (bench/bus.py).
            "set_tcp_nodelay true",
            f"max_queued_messages {self.max_queued_messages}",
            f"max_packet_size {self.max_packet_size}",
            *([] if self.conf_d else [f"log_dest {self.log_dest}"]),
            *([f"max_queued_bytes {self.max_queued_bytes}"] if self.max_queued_bytes else []),
            *([f"max_inflight_messages {self.max_inflight_messages}"]
              if self.max_inflight_messages != 20 else []),
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp true",
        ]
        if self.run_as_root:
            lines += ["user root"]
        if self.tail:
            lines += ["", self.tail.rstrip("\n")]
        return "\n".join(lines) + "\n"


def mosquitto_executable() -> str | None:
    """The mosquitto binary (Debian puts it in /usr/sbin, often not on a user's PATH)."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None


class MosquittoBroker:
    """A real Mosquitto process on a loopback port, for tests and benchmarks.

    Either give the pieces (password file, ACL, persistence) or a whole `conf` (what
    `qbus.provision` writes for a branch), which then runs unchanged except for logging to stderr.

    The port is chosen once, so `restart()` comes back where clients reconnect to. Its log is kept
    (last 500 lines) for diagnostics: `log_text()`.
    """

    def __init__(
        self,
        workdir: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        password_file: str | Path | None = None,
        acl_file: str | Path | None = None,
        persistence: bool = True,
        executable: str | None = None,
        conf: MosquittoConf | None = None,
    ) -> None:
        exe = executable or mosquitto_executable()
        if exe is None:
            raise BrokerError("mosquitto is not installed (./run.sh setup installs it with apt-get)")
        self.executable = exe
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        as_root = os.geteuid() == 0  # mosquitto would drop to its own user and lose our tmp files
        if conf is not None:  # run given settings (a provisioned branch's) as they are, standalone
            persist = self.workdir / "data"
            persist.mkdir(exist_ok=True)
            self.conf = dataclasses.replace(conf, log_dest="stderr", run_as_root=as_root, conf_d=False,
                                            persistence_dir=str(persist))
        else:
            persist = self.workdir / "data"
            if persistence:
                persist.mkdir(exist_ok=True)
            port = port or free_port(host)
            self.conf = MosquittoConf(
                host=host, port=port, persistence_dir=str(persist) if persistence else "",
                password_file=str(password_file or ""), acl_file=str(acl_file or ""), log_dest="stderr",
                run_as_root=as_root, autosave_interval_s=1,
            )
        self.host, self.port = self.conf.host, self.conf.port
        self.conf_path = self.workdir / "mosquitto.conf"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: collections.deque[tuple[int, str]] = collections.deque(maxlen=500)
        self._lines = 0
        self._ended = False
        self._generation = 0
        self._log_changed = threading.Condition()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int:
        return self._proc.pid if self._proc is not None else 0

    def start(self, timeout: float = 10.0) -> MosquittoBroker:
        """Write the config, start mosquitto and return once it says it is running."""
        if self.running:
            return self
        self.conf_path.write_text(self.conf.render("qcall test broker (qbus.broker.MosquittoBroker)"))
        try:
            proc = subprocess.Popen(
                [self.executable, "-c", str(self.conf_path)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
        except OSError as err:
            raise BrokerError(f"cannot run {self.executable}: {err}") from err
        self._proc = proc
        with self._log_changed:
            self._generation += 1
            mark, self._ended = self._lines, False
        stream = proc.stderr
        if stream is None:  # Popen(stderr=PIPE) always gives one; this keeps mypy honest
            raise BrokerError("mosquitto started without a log pipe")
        threading.Thread(target=self._read_log, args=(stream, self._generation), daemon=True,
                         name=f"mosquitto-log-{self.port}").start()
        if not self.wait_log(" running", timeout, since=mark):
            self.kill()
            raise BrokerError(f"mosquitto on {self.host}:{self.port} did not start:\n{self.log_text()}")
        _LOG.info("mosquitto pid %d on %s:%d", proc.pid, self.host, self.port)
        return self

    def _read_log(self, stream: IO[bytes], generation: int) -> None:
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip()
            with self._log_changed:
                self._log.append((self._lines, line))
                self._lines += 1
                self._log_changed.notify_all()
        with self._log_changed:
            if generation == self._generation:  # a killed predecessor's reader must not count
                self._ended = True
            self._log_changed.notify_all()

    def wait_log(self, needle: str, timeout: float, *, since: int = 0) -> bool:
        """Wait until a log line (number `since` or later) contains `needle`, or the process ends:
        the broker's own log is the only signal it gives of a refusal or of being ready."""

        def found() -> bool:
            return any(needle in line for n, line in self._log if n >= since)

        with self._log_changed:
            self._log_changed.wait_for(lambda: found() or self._ended, timeout)
            return found()

    def log_text(self) -> str:
        with self._log_changed:
            return "\n".join(line for _, line in self._log)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM (mosquitto saves its persistence file) and wait. Safe when not running."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _LOG.warning("mosquitto pid %d ignored SIGTERM; killing it", proc.pid)
            self.kill()

    def kill(self) -> None:
        """SIGKILL: a crash, as far as clients can tell. Safe when not running."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.kill()
        proc.wait()

    def restart(self, timeout: float = 10.0, *, crash: bool = True) -> None:
        """Kill (or stop, with crash=False) and start again on the same port."""
        if crash:
            self.kill()
        else:
            self.stop()
        self.start(timeout)

    def close(self) -> None:
        self.stop()
        if self._proc is not None and self._proc.stderr is not None:
            self._proc.stderr.close()

    def __enter__(self) -> MosquittoBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
