"""The demo's kiosk: real flow and twin devices issuing through the real broker and core."""

from __future__ import annotations

from pathlib import Path

from qbus.broker import MosquittoBroker
from qcall.demo_kiosk import DemoKiosk
from tests.conftest import CoreOn
from tests.kiosk_bus_helpers import CFG


def test_demo_kiosk_issues_a_realistic_mix_on_the_printer_twin(tmp_path: Path, mosquitto: MosquittoBroker,
                                                               core_on: CoreOn) -> None:
    core = core_on(mosquitto)
    lines: list[str] = []
    demo = DemoKiosk(CFG, mosquitto.host, mosquitto.port, seed=3, arrivals_per_hour=1800, speed=30,
                     out=lines.append, workdir=tmp_path).start()
    try:
        assert demo.wait_issued(25, 30)
    finally:
        demo.stop()
    assert {"button", "bank_card", "id_card", "passbook"} <= set(demo.vias)
    assert any("via id_card" in line for line in lines)
    last = (tmp_path / "last_ticket.bin").read_bytes()
    assert "示范银行".encode("gb18030") in last and b"\x1dV" in last[-4:]
    assert sum(core.store.core.queue_state().waiting.values()) >= 1
    demo.stop()  # safe twice
