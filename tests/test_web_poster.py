"""The door poster's remote ticket, piece by piece: the rotating code, the phone's signed cookie
and form token, the per-code and per-day caps (web.poster), the core's hold on the poster's
identity (qserver.auth), the config's refusals (`qcall check-config`) and the broker ACL that
provision writes for it. End to end in Chromium: tests/test_phone_browser.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from qbus import messages as m
from qbus.config import BranchConfig, load
from qbus.provision import devices_for, grant_for
from qbus.roles import role_of
from qbus.topics import Topics
from qcall.cli import main
from qcore import BranchCore
from qserver.auth import Forbidden, admit
from web.poster import Poster, derive_key, poster_code, walk_in_tier

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "branch.toml"
T = 1_764_554_400.0  # 2025-12-01 10:00 Beijing: the start of a 5-minute window


def cfg_with(**web: Any) -> BranchConfig:
    cfg = load(EXAMPLE)
    return msgspec.structs.replace(cfg, web=msgspec.structs.replace(cfg.web, **web))


def poster(**web: Any) -> Poster:
    return Poster(cfg_with(poster=True, base_url="https://q.bank.example", **web), derive_key(b"s" * 32))


def test_the_code_changes_every_window_and_the_one_before_is_still_taken() -> None:
    p = poster(poster_minutes=5)
    code, left = p.current(T + 10)
    assert left == pytest.approx(290) and p.url(T + 10) == f"https://q.bank.example/p/{code}"
    assert p.window_of(code, T + 10) == p.window(T)
    assert p.window_of(code, T + 299) == p.window(T)  # same window
    assert p.window_of(code, T + 300 + 299) == p.window(T)  # the next window: still accepted
    assert p.window_of(code, T + 600) is None  # two windows on: "scan the poster again"
    assert p.window_of(code, T - 1) is None  # a code of the future (worked out in advance) is not one
    assert p.current(T + 300)[0] != code
    assert p.window_of(poster_code(derive_key(b"t" * 32), p.window(T)), T) is None  # another key's
    for junk in ("", "short", code + "x", code[:-1] + "!"):
        assert p.window_of(junk, T) is None


def test_the_cookie_and_the_form_token_are_this_services_and_this_phones() -> None:
    p = poster()
    phone = p.new_phone()
    cookie = p.cookie(phone)
    assert p.phone(cookie) == phone
    assert p.phone(cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")) is None  # tampered
    assert p.phone(poster().cookie(phone)) == phone  # same secret: same service after a restart
    assert Poster(p.cfg, derive_key(b"other" * 8)).phone(cookie) is None
    assert p.phone(None) is None and p.phone("") is None
    code = p.current(T)[0]
    token = p.form_token(phone, code)
    assert p.form_ok(phone, code, token)
    assert not p.form_ok(p.new_phone(), code, token)  # another phone's form
    assert not p.form_ok(phone, p.current(T + 300)[0], token)  # another code's form
    assert not p.form_ok(phone, code, "")


def test_one_per_phone_per_day_and_the_caps_per_code_and_per_day() -> None:
    p = poster(poster_window_max=2, poster_day_max=3)
    day, w = "2025-12-01", p.window(T)
    a, b, c, d = (p.new_phone() for _ in range(4))
    assert p.reserve(a, w, day) == ""
    assert p.reserve(a, w, day) == "busy"  # the same phone twice at once: one ticket at most
    a2 = p.took(a, "A001", "tok-a")
    assert p.taken_today(a, day) == ("A001", "tok-a")  # its old cookie: the service remembers
    assert p.taken_today(a2, day) == ("A001", "tok-a")
    assert p.reserve(b, w, day) == ""
    p.release(b, w)  # the core refused it: the place goes back
    assert p.reserve(b, w, day) == ""
    p.took(b, "A002", "tok-b")
    assert p.reserve(c, w, day) == "window"  # two per code
    assert p.reserve(c, w + 1, day) == ""
    p.took(c, "A003", "tok-c")
    assert p.reserve(d, w + 1, day) == "day"  # three a day
    tomorrow = "2025-12-02"
    assert p.taken_today(a2, tomorrow) is None  # a new day: every phone may take one again
    assert p.reserve(d, w + 300, tomorrow) == ""


def test_the_core_holds_the_posters_identity_to_walk_in_tickets() -> None:
    on = cfg_with(poster=True, base_url="https://q.bank.example")
    core = BranchCore(on, "2025-12-01")
    assert role_of("web_poster1") == "web_poster" and role_of("web_lobby1") == "web_lobby"
    plain = admit(on, core, "web_poster1", m.Issue(business="cash", tier=walk_in_tier(on).code, via="button"), T)
    assert isinstance(plain, m.Issue) and (plain.via, plain.kiosk, plain.tier) == ("poster", "web_poster1", "normal")
    for cmd in (m.Issue(business="cash", tier="vip"), m.Issue(business="cash", tier="priority"),
                m.Issue(business="cash", granted_by="2001"), m.Issue(business="cash", customer="h" * 32),
                m.Issue(business="cash", appointment_at=T), m.Cancel(number="A001", by="x"),
                m.CallNext(counter=1)):
        with pytest.raises(Forbidden):
            admit(on, core, "web_poster1", cmd, T)
    with pytest.raises(Forbidden, match=r"\[web\] poster"):
        admit(load(EXAMPLE), core, "web_poster1", m.Issue(business="cash"), T)  # off: refused at the core too


def test_provision_gives_the_poster_its_own_command_topic_and_nothing_more() -> None:
    off, on = load(EXAMPLE), cfg_with(poster=True, base_url="https://q.bank.example")
    assert "web_poster1" not in devices_for(off) and "web_poster1" in devices_for(on)
    t = Topics(on.bus.prefix, on.branch.id)
    g = grant_for(t, "web_poster1", on)
    assert set(g.write) == {t.cmd("web_poster1"), t.presence("web_poster1")}
    assert set(g.read) == {t.reply("web_poster1")}  # no state, no events: it only takes numbers


@pytest.mark.parametrize(("web", "said"), [
    ('poster = true', "web.poster: needs web.base_url"),  # (the example's base_url is empty)
    ('poster_minutes = 0.5', "web.poster_minutes: 0.5 must be 1..30"),
    ('poster_window_max = 0', "web.poster_window_max: 0 must be 1..1000"),
    ('poster_window_max = 50\nposter_day_max = 10', "web.poster_day_max: 10 must be poster_window_max..10000"),
    ('poster_device = "web1x"', "web.poster_device: 'web1x' must start with 'web_poster'"),
    ('device = "web_poster9"', "'web_poster…' is the poster's identity"),
])
def test_check_config_refuses_a_poster_that_could_not_work(tmp_path: Path, capsys: Any, web: str, said: str) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace("\nposter = false\n", "\n")
    text = text.replace("\n[web]\n", f"\n[web]\n{web}\n", 1)
    path = tmp_path / "branch.toml"
    path.write_text(text, encoding="utf-8")
    assert main(["check-config", "--config", str(path)]) != 0
    assert said in capsys.readouterr().err
