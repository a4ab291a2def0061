"""The simulator: checked against M/M/c theory, deterministic per seed, a sane branch day."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qbus.config import load
from qcall.cli import main
from qcall.simulate import mmc_mean_wait, simulate_day, simulate_fifo
from tests.test_config import EXAMPLE


@pytest.mark.parametrize(("c", "rate", "service"), [(1, 8, 5), (3, 30, 5), (5, 50, 5)])
def test_fifo_matches_erlang_c(c: int, rate: float, service: float) -> None:
    out = simulate_fifo(c, rate, service, 1000, seed=11)
    theory = mmc_mean_wait(c, rate, service)
    assert out["served"] > 0.95 * rate * 1000
    assert abs(out["mean_wait_s"] - theory) / theory < 0.10, (out, theory)


def test_erlang_c_textbook_value() -> None:
    # M/M/1: Wq = rho / (mu - lambda); 6/h with 5 min service: rho 0.5, Wq = 0.5 / (12 - 6) h = 300 s
    assert mmc_mean_wait(1, 6, 5) == pytest.approx(300.0)


def test_branch_day_is_deterministic_and_plausible() -> None:
    cfg = load(EXAMPLE)
    a = simulate_day(cfg, 3)
    assert a == simulate_day(cfg, 3)
    assert a != simulate_day(cfg, 4)
    assert a["issued"] > 200 and a["served"] + a["no_shows"] + a["cancelled"] == a["issued"]
    assert 0.5 < a["satisfaction_rate"] <= 1 and 0 < a["unrated_rate"] < 0.5
    # Priority tiers wait less than standard customers.
    by_tier = a["wait_s_by_tier"]
    assert by_tier["vip"]["mean"] < by_tier["normal"]["mean"]
    # Arrivals peak mid-morning and mid-afternoon (local hours 10 and 14 beat 9 and 12).
    hours = a["arrivals_by_hour"]
    assert hours["10"] > hours["09"] and hours["14"] > hours["12"]
    assert set(a["staffing_advice"]) == set(hours)


def _qcall(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qcall.cli", *args], capture_output=True, text=True,
                          timeout=120)


def test_cli_fifo_prints_json() -> None:
    p = _qcall("simulate", "--policy", "fifo", "--counters", "2", "--arrivals-per-hour", "12",
               "--service-minutes", "6", "--hours", "50", "--seed", "5")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert {"mean_wait_s", "p90_wait_s", "served"} <= set(out)


@pytest.mark.parametrize("args", [
    ["simulate", "--config", "/nonexistent.toml"],
    ["simulate", "--policy", "fifo", "--counters", "0"],
    ["journal", "check", "--journal", "/proc/forbidden/x.db"],
])
def test_cli_errors_are_one_clear_line(args: list[str]) -> None:
    p = _qcall(*args)
    assert p.returncode != 0
    assert "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and p.stderr.startswith("qcall: ")


def _commands() -> list[str]:
    import argparse

    from qcall.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    from qcall.cli import main

    commands = _commands()
    assert {"demo", "serve", "kiosk", "bridge", "display", "panel", "watch", "report"} <= set(commands)
    for cmd in commands:
        with pytest.raises(SystemExit) as done:
            main([cmd, "--help"])
        out = capsys.readouterr().out
        assert done.value.code == 0 and f"usage: qcall {cmd}" in out, cmd
        assert len(out.splitlines()) > 3, f"{cmd} --help says too little"


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/London", "America/New_York"])
def test_a_branch_day_runs_in_the_branch_zone(zone: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Arrivals per hour and the printed call times are the branch's local hours (09:00-17:00),
    whatever its zone: nothing assumes UTC+8."""
    text = EXAMPLE.read_text(encoding="utf-8").replace('"Asia/Shanghai"', f'"{zone}"')
    cfg = tmp_path / "branch.toml"
    cfg.write_text(text, encoding="utf-8")
    assert main(["simulate", "--config", str(cfg), "--seed", "3", "--calls"]) == 0
    out = capsys.readouterr().out.splitlines()
    hours = json.loads(out[-1])["arrivals_by_hour"]
    assert hours and all("09" <= h < "17" for h in hours)
    times = [line[:5] for line in out[:-1] if "请" in line]
    assert times and "09:00" <= min(times) and max(times) < "20:00"


@pytest.mark.parametrize("zone", ["Europe/London", "America/New_York"])
def test_calls_happen_in_opening_hours_of_the_branch_zone(zone: str) -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    import msgspec

    cfg = load(EXAMPLE)
    cfg = msgspec.structs.replace(cfg, branch=msgspec.structs.replace(cfg.branch, timezone=zone))
    calls: list[float] = []
    simulate_day(cfg, 3, on_call=lambda ev: calls.append(ev.at))
    local = [dt.datetime.fromtimestamp(t, ZoneInfo(zone)) for t in calls]
    assert local and all(9 <= t.hour < 20 for t in local)
