"""The head-office link over TLS: a branch's bridge verifies the central broker's certificate
against head office's CA and logs in with its own credentials; a bridge that trusts another CA
never connects (a man in the middle gets nothing)."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from qbus import hqlink
from qbus import messages as m
from qbus.broker import MosquittoBroker, free_port
from qbus.client import BusClient
from qbus.provision import provision
from qbus.topics import Topics
from tests.hq_rig import T0, branch_config

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is installed by ./run.sh")


def _ca_and_server(d: Path, name: str) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it (what head office's PKI issues)."""
    d.mkdir(parents=True)
    ca, ca_key, crt, key, csr = d / "ca.crt", d / "ca.key", d / "server.crt", d / "server.key", d / "server.csr"
    ext = d / "ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n")
    run = [["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
            str(ca_key), "-out", str(ca), "-days", "2", "-subj", f"/CN={name} CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"],
           ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
            str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1"],
           ["x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-set_serial", "7",
            "-days", "2", "-extfile", str(ext), "-out", str(crt)]]
    for args in run:
        subprocess.run(["openssl", *args], check=True, capture_output=True)
    key.chmod(0o644)  # mosquitto may run as its own user when the tests are not root
    return ca, crt, key


def test_a_bridge_over_tls_reaches_head_office_and_a_wrong_ca_never_connects(tmp_path: Path) -> None:
    ca, crt, key = _ca_and_server(tmp_path / "pki", "head office")
    other_ca, _, _ = _ca_and_server(tmp_path / "rogue", "rogue")
    tls_port = free_port()
    files = hqlink.provision_central(["b1", "b2"], tmp_path / "central", local_port=free_port(),
                                     persistence_dir="", certfile=str(crt), keyfile=str(key),
                                     tls_port=tls_port, tls_host="127.0.0.1")
    assert f"listener {tls_port} 127.0.0.1" in files.conf.read_text()
    central = MosquittoBroker(tmp_path / "central-run", conf=files.settings).start()
    heard: list[str] = []
    got = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="hq-ingest1", protocol=mqtt.MQTTv311)
    sub.username_pw_set("hq-ingest1", files.password("hq-ingest1"))

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        heard.append(msg.topic)
        got.set()

    sub.on_message = on_message
    sub.connect("127.0.0.1", central.port)
    sub.subscribe("qcall/v1/#", qos=1)
    sub.loop_start()
    brokers: list[MosquittoBroker] = [central]
    try:
        for branch, trust in (("b1", ca), ("b2", other_ca)):
            cfg = branch_config(branch, tls_port, files.credentials[hqlink.branch_user(branch)], str(trust))
            prov = provision(cfg, tmp_path / branch, listen_port=free_port())
            assert f"bridge_cafile {trust}" in prov.conf.read_text()
            brokers.append(MosquittoBroker(tmp_path / f"{branch}-run", conf=prov.settings).start())
            core = BusClient(host="127.0.0.1", port=brokers[-1].port, topics=Topics("qcall", branch), device="core",
                             username="core", password=prov.password("core")).connect(10)
            core.publish_raw(f"qcall/v1/{branch}/event/day_reset", m.encode(m.DayReset(at=T0, seq=1, day="2026-03-02")))
            if branch == "b1":
                assert got.wait(15), "b1's event did not reach head office over TLS"
            core.close()
        assert central.wait_log("as branch-b1", 5)
        deadline = time.monotonic() + 3  # b2's bridge retries every second: give it three tries
        while time.monotonic() < deadline:
            assert "qcall/v1/b2/event/day_reset" not in heard
            time.sleep(0.2)
        assert "as branch-b2" not in central.log_text()
        assert "qcall/v1/b1/event/day_reset" in heard
    finally:
        sub.loop_stop()
        sub.disconnect()
        for b in brokers:
            b.close()
