"""`qcall display`, `qcall voice` and the demo's hall display, run as a user would run them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pygame
import pytest

from display import clips as c
from display import theme
from display.panels import CallingPanel
from display.screen import HallScreen
from display.voice import open_announcer
from qbus import messages as m
from qbus.broker import MosquittoBroker
from qbus.client import BusClient
from qbus.config import BranchConfig, load
from qbus.config.sections import VoiceSection
from qbus.topics import Topics
from qcall.cli import main as qcall
from qcall.demo_display import DemoDisplay, has_audio, has_screen
from tests.display_helpers import EXAMPLE, built_clips, find_text, reference

FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"


def config_file(path: Path, **sections: dict[str, object]) -> Path:
    """The example branch file with some keys of some sections replaced (written as TOML)."""
    out: list[str] = []
    current = ""
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            current = line.strip("[] ")
            out.append(line)
            for k, v in sections.get(current, {}).items():
                out.append(f"{k} = {_toml(v)}")
            continue
        key = line.split("=", 1)[0].strip()
        if current in sections and key in sections[current]:
            continue
        out.append(line)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def _toml(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(v)


@pytest.fixture(scope="module")
def clips_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_clips(tmp_path_factory)


def publish_hall(broker: MosquittoBroker, cfg: BranchConfig, view: m.HallView) -> None:
    core = BusClient(host=broker.host, port=broker.port, topics=Topics(cfg.bus.prefix, cfg.branch.id),
                     device="core", kind="core").connect(10)
    try:
        core.publish(core.topics.state_hall(), view, retain=True, qos=1)
    finally:
        core.close()


def shows_number(png: Path, cfg: BranchConfig, number: str, counter: int) -> bool:
    """The number, in the calling panel's normal colours, at the size that row uses."""
    try:
        frame = pygame.image.load(str(png))
    except (pygame.error, FileNotFoundError):
        return False
    probe = HallScreen(cfg, pygame.Surface(frame.get_size()))
    panel = probe.panel("calling")
    assert isinstance(panel, CallingPanel)
    size = panel.sizes(0, m.CallView(number=number, counter=counter, at=0))[0]
    ref = reference(FONT, 0, number, size, theme.NUMBER, theme.ROW_BG)
    return find_text(frame, probe.layout.calling, ref, theme.NUMBER) is not None


def wait_for_png(ok: Callable[[], bool], proc: subprocess.Popen[bytes] | None = None,
                 timeout: float = 30.0) -> bool:
    """Another process writes the file, so nothing can signal us: look again after each write."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            return False
        if ok():
            return True
        time.sleep(0.1)
    return False


def test_qcall_display_headless_writes_png_snapshots_of_the_bus_picture(
        mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    cfg_path = config_file(tmp_path / "branch.toml", display={"layout": "landscape-720"})
    cfg = load(cfg_path)
    publish_hall(mosquitto, cfg, m.HallView(calling=[m.CallView(number="D042", counter=6, at=1.0)]))
    png = tmp_path / "png" / "hall.png"
    env = {**os.environ, "SDL_AUDIODRIVER": "dummy"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "qcall.cli", "display", "--config", str(cfg_path), "--headless",
         "--silent", "--png-dir", str(png.parent), "--png-every", "0.2", "--host", mosquitto.host,
         "--port", str(mosquitto.port)], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stderr is not None  # piped
    try:
        assert wait_for_png(lambda: shows_number(png, cfg, "D042", 6), proc), \
            f"no snapshot showing D042: {proc.stderr.read().decode() if proc.poll() is not None else ''}"
        assert pygame.image.load(str(png)).get_size() == (1280, 720)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode in (0, 130), err.decode()
    assert not list(png.parent.glob("*.tmp.png")), "half-written snapshots left behind"


def test_qcall_display_with_a_missing_font_says_which_and_how_to_fix(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg_path = config_file(tmp_path / "branch.toml", display={"font": "/nonexistent/cjk.ttc"})
    assert qcall(["display", "--config", str(cfg_path), "--headless", "--silent"]) == 2
    err = capsys.readouterr().err
    assert "/nonexistent/cjk.ttc" in err and "fonts-wqy-microhei" in err


def test_qcall_voice_build_makes_only_the_missing_clips(
        clips_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "clips"
    shutil.copytree(clips_dir, mine)
    for key in ("zh-hao", "en-7"):
        (mine / f"{key}.wav").unlink()
    cfg_path = config_file(tmp_path / "branch.toml", voice={"clips_dir": str(mine)})
    assert qcall(["voice", "build", "--config", str(cfg_path)]) == 0
    assert "2 voice clips written" in capsys.readouterr().out
    assert c.rms(c.read_wav(mine / "zh-hao.wav")) > c.MIN_RMS


def test_qcall_voice_say_plays_one_call_and_respects_silent_mode(
        clips_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg_path = config_file(tmp_path / "on.toml",
                           voice={"clips_dir": str(clips_dir), "repeat": 1, "english": False})
    t0 = time.monotonic()
    assert qcall(["voice", "say", "--config", str(cfg_path), "--number", "A1", "--counter", "2"]) == 0
    assert time.monotonic() - t0 > 0.5, "the call was not played (dummy audio plays in real time)"
    off = config_file(tmp_path / "off.toml", voice={"enabled": False})
    assert qcall(["voice", "say", "--config", str(off)]) == 0
    assert "off" in capsys.readouterr().out


def test_a_display_start_makes_missing_clips_itself(clips_dir: Path, tmp_path: Path) -> None:
    mine = tmp_path / "clips"
    shutil.copytree(clips_dir, mine)
    (mine / "zh-qing.wav").unlink()
    from display.voice import RecordingPlayer

    ann = open_announcer(VoiceSection(clips_dir=str(mine)), RecordingPlayer())
    assert ann is not None
    ann.close()
    assert (mine / "zh-qing.wav").is_file()


@pytest.mark.parametrize(("env", "screen"), [
    ({}, False), ({"DISPLAY": ":0"}, True), ({"WAYLAND_DISPLAY": "wayland-0"}, True),
    ({"SDL_VIDEODRIVER": "kmsdrm"}, True), ({"DISPLAY": ":0", "SDL_VIDEODRIVER": "dummy"}, False),
])
def test_demo_opens_a_window_only_where_there_is_a_screen(env: dict[str, str], screen: bool) -> None:
    assert has_screen(env) is screen


def test_demo_voice_only_with_an_audio_device(tmp_path: Path) -> None:
    no_snd = tmp_path / "snd"
    assert not has_audio({}, no_snd)
    no_snd.mkdir()
    (no_snd / "controlC0").touch()
    assert not has_audio({}, no_snd), "a capture-only card is not an output"
    (no_snd / "pcmC0D0p").touch()
    assert has_audio({}, no_snd)
    assert has_audio({"SDL_AUDIODRIVER": "dummy"}, tmp_path / "none")


def test_demo_display_headless_snapshots_show_calls_from_the_bus(
        mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    import msgspec

    cfg = load(EXAMPLE)
    cfg = msgspec.structs.replace(cfg, display=msgspec.structs.replace(cfg.display,
                                                                       layout="landscape-720"))
    lines: list[str] = []
    demo = DemoDisplay(cfg, mosquitto.host, mosquitto.port, tmp_path, out=lines.append,
                       snapshot_every_s=0.1, env={})
    assert demo.headless and demo.snapshots is not None
    demo.start()
    try:
        assert demo.ready.wait(20) and demo.error is None
        publish_hall(mosquitto, cfg, m.HallView(calling=[m.CallView(number="C777", counter=4, at=1)]))
        snaps = demo.snapshots
        done = threading.Event()
        for _ in range(100):  # look at each new snapshot until one shows the call
            snaps.saved.clear()
            assert snaps.saved.wait(10), "no snapshot written"
            if shows_number(snaps.path, cfg, "C777", 4):
                done.set()
                break
        assert done.is_set(), "the snapshots never showed the call"
    finally:
        demo.stop()
        demo.stop()
    assert sum(str(snaps.path) in line for line in lines) == 1, "print the snapshot path once"
    assert any("voice calling off (no audio device)" in line for line in lines)
