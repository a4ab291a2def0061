"""docs/operations.md's broker set-up works on stock Mosquitto 2.0, as written (issue 10, section 4).

The test reads the doc's `[bus]` block and its broker commands and runs them against a copy of
Debian's own /etc/mosquitto/mosquitto.conf (its paths moved under a scratch root), then starts the
real /usr/sbin/mosquitto the way Debian's unit does (`-c /etc/mosquitto/mosquitto.conf`, as root:
it drops to user mosquitto, so file ownership and modes are what a branch gets). Core, kiosk and
manager then connect over TLS with their provisioned credentials; a plain connection, a forged
certificate authority and a client taking over the core's client id all fail.
"""

from __future__ import annotations

import grp
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import msgspec
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.client import ConnectFlags
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from qbus import messages as m
from qbus.broker import free_port
from qbus.client import BusClient
from qbus.config import load
from qbus.errors import BusError
from qserver.pins import CHEAP_COST, PinBook
from qserver.runner import CoreRunner
from tests.bus_helpers import Inbox

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
STOCK = Path("/etc/mosquitto/mosquitto.conf")
MOSQUITTO = "/usr/sbin/mosquitto"


def block(name: str) -> str:
    found = re.search(rf"<!-- operations: {name} -->\s*```\w+\n(.*?)```", DOC, re.S)
    assert found, f"docs/operations.md has no `operations: {name}` block"
    return found.group(1)


def _stock_layout(root: Path) -> Path:
    """Debian's mosquitto.conf with its paths under `root`, the folders owned as the package does."""
    conf = STOCK.read_text()
    for path in ("/run/mosquitto/", "/var/lib/mosquitto/", "/var/log/mosquitto/", "/etc/mosquitto/conf.d"):
        conf = conf.replace(path, f"{root}{path}")
        (root / path.strip("/")).mkdir(parents=True, exist_ok=True)
    for owned in ("run/mosquitto", "var/lib/mosquitto", "var/log/mosquitto"):
        shutil.chown(root / owned, "mosquitto", "mosquitto")
    main = root / "etc/mosquitto/mosquitto.conf"
    main.write_text(conf)
    return main


def _branch_file(root: Path, port: int) -> Path:
    """examples/branch.toml with the doc's [bus] block, the LAN address being loopback here."""
    example = (ROOT / "examples" / "branch.toml").read_text(encoding="utf-8")
    bus = re.search(r"^\[bus\]\n.*?(?=^\[)", example, re.S | re.M)
    assert bus
    doc_bus = block("bus").replace('"192.168.1.10"', '"127.0.0.1"').replace("port = 8883", f"port = {port}")
    text = example.replace(bus.group(0), doc_bus.replace("/etc/", f"{root}/etc/") + "\n")
    out = root / "etc/qcall/branch.toml"
    out.parent.mkdir(parents=True)
    out.write_text(text, encoding="utf-8")
    return out


@pytest.fixture
def broker_as_documented() -> Iterator[tuple[Path, Path]]:
    if os.geteuid() != 0 or not Path(MOSQUITTO).exists() or not STOCK.exists():
        pytest.skip("needs root and Debian's mosquitto package (the doc's commands run as root)")
    root = Path(tempfile.mkdtemp(prefix="qcall-ops-"))
    os.chmod(root, 0o755)  # mosquitto, once it is its own user, must reach its files
    proc: subprocess.Popen[bytes] | None = None
    try:
        main = _stock_layout(root)
        cfg = _branch_file(root, free_port())
        for line in block("broker").strip().splitlines():
            if line.startswith("cd "):
                continue  # the doc runs from the install folder; so does this test (ROOT)
            if line == "systemctl restart mosquitto":  # what Debian's mosquitto.service runs
                proc = subprocess.Popen([MOSQUITTO, "-c", str(main)], stderr=subprocess.PIPE)
                continue
            cmd = line.replace("/etc/", f"{root}/etc/").replace("-o qcall", "-o root")  # no qcall user here
            done = subprocess.run(["bash", "-c", cmd], cwd=ROOT, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, f"{line}\n{done.stderr}"
        assert proc is not None, "the doc never starts mosquitto"
        yield root, cfg
    finally:
        if proc is not None:
            proc.terminate()
            _, err = proc.communicate(timeout=10)
            if proc.returncode not in (0, -15):
                print(err.decode(errors="replace"))
        shutil.rmtree(root, ignore_errors=True)


def _client(cfg_path: Path, device: str, creds: Path) -> BusClient:
    """`device` as its own machine runs it: its credential copied from provision's output."""
    cfg = load(cfg_path)
    section = msgspec.structs.replace(cfg.bus, password_file=str(creds / "{device}.password"))
    return BusClient.from_config(section, cfg.branch.id, device)


def test_the_documented_broker_serves_core_kiosk_and_manager_over_tls(
        broker_as_documented: tuple[Path, Path], tmp_path: Path) -> None:
    root, cfg_path = broker_as_documented
    cfg = load(cfg_path)
    prov = root / "etc/mosquitto/qcall"
    assert (prov / "passwd").stat().st_gid == grp.getgrnam("mosquitto").gr_gid
    installed = root / "etc/qcall/credentials"
    core_password = (installed / "core.password").read_text().strip()
    runner = CoreRunner(cfg, tmp_path / "journal.db", cfg.bus.host, cfg.bus.port,
                        pins=PinBook.example_for(cfg, CHEAP_COST), ca_file=cfg.bus.ca_file,
                        username="core", password=core_password)
    drops: list[str] = []
    runner.bus.on_offline = lambda: drops.append("core dropped")
    with runner:
        assert runner.bus.wait_online(15), "core did not connect with its provisioned credential"
        events = Inbox()
        manager = _client(cfg_path, "manager1", prov / "credentials")
        manager.subscribe(manager.topics.event("issued"), m.decode_event, events)
        kiosk = _client(cfg_path, "kiosk1", prov / "credentials")
        try:
            manager.connect(15)
            kiosk.connect(15)
            first = kiosk.request(m.Issue(business="cash", kiosk="kiosk1"), 15)
            assert first.ok and events.wait_count(1)

            # A client with the kiosk's password and the core's client id, again and again: the
            # broker makes its client id `kiosk1`, so the core is never kicked off.
            for _ in range(3):
                _takeover(cfg.bus.host, cfg.bus.port, cfg.bus.ca_file, f"qcall-{cfg.branch.id}-core",
                          "kiosk1", (prov / "credentials/kiosk1.password").read_text().strip())
            assert runner.bus.online and not drops
            assert kiosk.wait_online(15)  # the real kiosk1 was taken over: it reconnects
            assert kiosk.request(m.Issue(business="cash", kiosk="kiosk1"), 15).ok
        finally:
            kiosk.close()
            manager.close()

        # Plain MQTT to the TLS port gets nowhere; nor does TLS with a CA the branch did not make.
        plain = BusClient(host=cfg.bus.host, port=cfg.bus.port, topics=manager.topics, device="manager1",
                          username="manager1", password="x")
        with pytest.raises(BusError):
            plain.connect(1.5)
        plain.close()
        other_ca = tmp_path / "other"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", str(other_ca) + ".key", "-out", str(other_ca) + ".crt", "-days", "1",
                        "-subj", "/CN=not the branch"], check=True, capture_output=True)
        forged = BusClient(host=cfg.bus.host, port=cfg.bus.port, topics=manager.topics, device="manager1",
                           ca_file=str(other_ca) + ".crt")
        with pytest.raises(BusError):
            forged.connect(1.5)
        forged.close()


def _takeover(host: str, port: int, ca_file: str, client_id: str, user: str, password: str) -> None:
    """Connect with another device's client id and wait for the broker's CONNACK."""
    connected = threading.Event()

    def on_connect(_c: mqtt.Client, _u: object, _flags: ConnectFlags, _rc: ReasonCode,
                   _props: Properties | None) -> None:
        connected.set()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
    c.tls_set_context(ssl.create_default_context(cafile=ca_file))
    c.username_pw_set(user, password)
    c.on_connect = on_connect
    c.connect(host, port)
    c.loop_start()
    try:
        assert connected.wait(timeout=10)
    finally:
        c.disconnect()
        c.loop_stop()


AS_SERVICE_USER = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]  # the doc's `qcall` user


def test_the_documented_web_setup_lets_the_service_user_write_its_files() -> None:
    """The doc's web block, run as written on an /etc/qcall made by `sudo mkdir` (root's, 0755): the
    service user then adds a person, and the web's first start makes its session secret and phone
    link key there. Without the ownership step the user file cannot be written at all."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root (the doc's commands run with sudo) and setpriv")
    root = Path(tempfile.mkdtemp(prefix="qcall-web-"))  # (pytest's tmp_path is root's alone: 0700)
    try:
        _web_setup_as_documented(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _web_setup_as_documented(root: Path) -> None:
    os.chmod(root, 0o755)
    etc = root / "etc/qcall"
    etc.mkdir(parents=True)
    shutil.copy(ROOT / "examples/branch.toml", etc / "branch.toml")
    for line in block("web").strip().splitlines():
        if line.startswith("cd "):
            continue
        cmd = (line.replace("/etc/", f"{root}/etc/").replace("sudo -u qcall ", " ".join(AS_SERVICE_USER) + " ")
               .replace("sudo chown qcall", "chown nobody"))
        done = subprocess.run(["bash", "-c", cmd], cwd=ROOT, input="s3cret-Passw0rd\ns3cret-Passw0rd\n",
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{line}\n{done.stderr}"
    first_start = ("from pathlib import Path; from qbus.config import load; from qcall.web import build_context; "
                   f"p = Path('{etc / 'branch.toml'}'); build_context(load(p), p, host='127.0.0.1', port=1)")
    done = subprocess.run([*AS_SERVICE_USER, str(ROOT / ".venv/bin/python"), "-c", first_start], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for name in ("users.toml", "web-secret.key", "ticket-link.key"):
        made = etc / name
        assert made.exists() and made.stat().st_mode & 0o077 == 0, name
    assert "zhou.min" in (etc / "users.toml").read_text(encoding="utf-8")
