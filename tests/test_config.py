"""The branch config: the example loads, and every kind of mistake names its key."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from qbus.config import ConfigError, load, loads
from qbus.config.validate import problems

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "branch.toml"


def example_text() -> str:
    return EXAMPLE.read_text(encoding="utf-8")


def test_example_branch_loads() -> None:
    cfg = load(EXAMPLE)
    assert [b.prefix for b in cfg.business] == ["A", "B", "C", "D", "E"]
    assert cfg.counter[4].prefers == ["private", "wealth", "vip"]
    assert [t.id for t in cfg.teller][:2] == ["1001", "1002"] and cfg.pins.file


@pytest.mark.parametrize(
    ("old", "new", "names"),
    [
        ("serves = { corporate = 1 }", "serves = { corprate = 1 }", "counter 4.serves.corprate"),
        ('prefix = "E"', 'prefix = "O"', "business[4].prefix"),
        ('prefix = "E"', 'prefix = "A"', "business.prefix"),
        ("id = 4\n", 'id = "four"\n', "counter[3].id"),
        ('open = "09:00"', 'open = "9am"', "hours.open"),
        ("interleave_priority = 2 ", "interleave_priority = 0 ", "rules.interleave_priority"),
        ("number_width = 3", "number_width = 9", "rules.number_width"),
        ('prefers = ["private", "wealth"]', 'prefers = ["gold"]', "counter 6.prefers"),
        ("max_recalls = 3", "max_recals = 3", "max_recals"),
        ("satisfied_min = 4", "satisfied_min = 9", "rating.satisfied_min"),
    ],
)
def test_mistakes_name_the_key(old: str, new: str, names: str) -> None:
    text = example_text()
    assert old in text
    with pytest.raises(ConfigError) as info:
        loads(text.replace(old, new, 1))
    assert names in str(info.value)


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        loads("[branch\nid=")
    with pytest.raises(ConfigError, match="cannot read config"):
        load(tmp_path / "nope.toml")


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        loads("")


def test_check_config_refuses_what_the_bus_could_not_carry() -> None:
    """Values the core publishes must fit the message schema's bounds (a display would refuse the
    whole hall view), and the [limits] must let a device work at all."""
    long_notice = example_text().replace("notice_zh = \"欢迎光临", "notice_zh = \"" + "长" * 300 + "欢迎光临")
    with pytest.raises(ConfigError, match=r"display.notice_zh: \d+ characters; at most 300"):
        loads(long_notice)
    with pytest.raises(ConfigError, match="limits.device_burst"):
        loads(example_text() + "\n[limits]\ndevice_burst = 0\n")
    cfg = load(EXAMPLE)
    tiny = msgspec.structs.replace(cfg, bus=msgspec.structs.replace(cfg.bus, max_packet_size=100))
    assert any(p.startswith("bus.max_packet_size") for p in problems(tiny))
    assert loads(example_text() + "\n[limits]\ndevice_rate_per_s = 2.5\n").limits.device_rate_per_s == 2.5
