"""`qcall --help` as a person reads it: every command says what it does, in its own words, and
every command that talks to the broker takes it as --host/--port."""

from __future__ import annotations

import argparse

from qcall.cli import build_parser


def commands(p: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    out: dict[str, argparse.ArgumentParser] = {}
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out[f"{prefix}{name}"] = sub
                out.update(commands(sub, f"{prefix}{name} "))
    return out


def test_every_command_has_its_own_description() -> None:
    found = commands(build_parser())
    assert {"bridge", "cancel", "requeue", "pin set", "pin unlock", "hash-key", "check-config", "voice build",
            "report"} <= set(found)
    missing = [name for name, sub in found.items() if not (sub.description or "").strip()]
    assert missing == []
    assert found["cancel"].description != found["requeue"].description
    cancel, requeue = found["cancel"].description, found["requeue"].description
    assert cancel is not None and requeue is not None  # both described: checked above
    assert "cancel" in cancel.lower() and "re-queue" in requeue


def test_the_bridge_takes_the_broker_like_every_command_and_the_serial_port_as_serial() -> None:
    found = commands(build_parser())
    for name in ("bridge", "panel", "watch", "notice", "cancel", "display", "kiosk"):
        opts = {o for a in found[name]._actions for o in a.option_strings}
        assert {"--host", "--port"} <= opts, name
    bridge = {o for a in found["bridge"]._actions for o in a.option_strings}
    assert "--serial" in bridge and "--broker" not in bridge
    args = build_parser().parse_args(["bridge", "--serial", "/dev/pts/9", "--counter", "3", "--host", "h",
                                      "--port", "1884"])
    assert (args.serial, args.host, args.port) == ("/dev/pts/9", "h", 1884)
    assert "--port" in {o for a in found["demo"]._actions for o in a.option_strings}
