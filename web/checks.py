"""开门前检查 — the opening check: is everything a branch needs up before the doors open?

The same list serves the web page and `qcall doctor` (exit code 0 when nothing failed, for
scripts and monitoring). Each check says what is wrong and what to do about it, in the words a
branch's staff use. Everything comes from the bus (retained presence and state) except the disk
space, which is measured where this runs (run `qcall doctor` on the core's machine).
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from web.live import LiveBranch

MIN_FREE_BYTES = 1 << 30  # 1 GiB: a day's journal is a few MB, snapshots and logs more
CLOCK_SKEW_S = 120.0
EARLIEST_SANE = 1735689600.0  # 2025-01-01: a Pi without its clock boots in 1970


@dataclass(frozen=True, slots=True)
class Check:
    key: str
    title: str
    ok: bool | None  # None: could not be checked (a warning, not a failure)
    detail: str
    fix: str = ""


def opening_checks(v: LiveBranch, *, now: float, disk_path: Path, archived: bool | None = None) -> list[Check]:
    out = [_broker(v), _core(v)]
    out += _pads(v)
    out += [_printer(v), _display(v), _clock(v, now), _disk(disk_path), _archive(archived)]
    return out


def failed(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.ok is False]


def _broker(v: LiveBranch) -> Check:
    if v.bus_online:
        return Check("broker", "消息总线 Broker", True, "已连接 connected")
    return Check("broker", "消息总线 Broker", False, "连不上消息服务器 cannot reach the broker",
                 "检查 mosquitto 服务: systemctl status mosquitto; [bus] host/port 与密码文件")


def _core(v: LiveBranch) -> Check:
    state = v.device_state("core")
    if state == "online" and v.hall.day:
        return Check("core", "排队核心 Queue core", True, f"在线，营业日 {v.hall.day}")
    if state == "online":
        return Check("core", "排队核心 Queue core", False, "在线但未发布大厅状态 online but no hall state",
                     "重启核心: systemctl restart qcall-core")
    return Check("core", "排队核心 Queue core", False, "未响应 not answering",
                 "systemctl status qcall-core; journalctl -u qcall-core 查看原因 (journal check: qcall journal check)")


def _pads(v: LiveBranch) -> list[Check]:
    out = []
    for i, line in enumerate(v.cfg.serial):
        bridge = f"bridge{i + 1}"
        if v.device_state(bridge) != "online":
            out.append(Check(bridge, f"串口桥 {line.port}", False, "离线 offline",
                             f"systemctl restart qcall-bridge@{i}; 检查 USB 串口线 {line.port}"))
            continue
        for d in line.devices:
            name = f"pad{d.counter}"
            state = v.device_state(name)
            kind = "评价器 rating pad" if d.kind == "rating" else "键盘 keypad"
            if state == "online":
                out.append(Check(f"{name}:{d.address}", f"{d.counter}号窗口{kind}", True, "在线 online"))
            else:
                out.append(Check(f"{name}:{d.address}", f"{d.counter}号窗口{kind}", False, f"{state}",
                                 f"检查 {d.counter}号窗口的设备电源与连线（地址 {d.address}）"))
    return out


def _printer(v: LiveBranch) -> Check:
    kiosk = v.cfg.kiosk.id
    title = f"取号机打印机 {kiosk}"
    if v.device_state(kiosk) != "online":
        return Check("printer", title, False, "取号机离线 kiosk offline", "开启取号机电源; systemctl status qcall-kiosk")
    paper = v.paper(kiosk)
    if paper == "paper_ok":
        return Check("printer", title, True, "纸张正常 paper OK")
    if paper == "near_end":
        return Check("printer", title, True, "纸将用完 paper low", "开门前换一卷新纸")
    if not paper:
        return Check("printer", title, None, "未报告打印机状态 no printer status", "打印一张测试票")
    return Check("printer", title, False, paper, "装纸 / 合上打印机盖 / 检查打印机电源与连线")


def _display(v: LiveBranch) -> Check:
    state = v.device_state("display1")
    if state == "online":
        return Check("display", "大厅显示屏 Hall display", True, "在线 online")
    detail = "离线 offline" if state == "offline" else "从未上线 never seen"
    return Check("display", "大厅显示屏 Hall display", False, detail,
                 "打开显示屏电源; systemctl status qcall-display")


def _clock(v: LiveBranch, now: float) -> Check:
    if v.hall.clock_unconfirmed:
        return Check("clock", "时钟 Clock", False, "核心的时间未确认 the core's clock is unconfirmed",
                     "确认网络时间同步，或由行长运行 qcall confirm-clock (docs/operations.md, Clock)")
    if now < EARLIEST_SANE:
        return Check("clock", "时钟 Clock", False, "系统时间不对 the clock is far in the past",
                     "检查网络时间同步 (timedatectl; chrony/systemd-timesyncd)")
    if v.last_bus_at and abs(now - v.last_bus_at) > CLOCK_SKEW_S and v.last_bus_at > now:
        return Check("clock", "时钟 Clock", False, f"比核心慢 {v.last_bus_at - now:.0f} 秒 behind the core",
                     "同步本机与核心主机的时间 (timedatectl)")
    return Check("clock", "时钟 Clock", True, "正常 OK")


def _disk(path: Path) -> Check:
    where = path if path.exists() else Path(".")
    try:
        usage = shutil.disk_usage(where)
    except OSError as err:
        return Check("disk", "磁盘空间 Disk", None, f"{where}: {err.strerror}")
    free_gb = usage.free / (1 << 30)
    if usage.free < MIN_FREE_BYTES:
        return Check("disk", "磁盘空间 Disk", False, f"只剩 {free_gb:.1f} GB", "清理旧日志 (journalctl --vacuum-time=30d) 或换更大的存储卡")
    return Check("disk", "磁盘空间 Disk", True, f"剩余 {free_gb:.1f} GB")


def yesterday(v: LiveBranch, now: float) -> str:
    """The last day the branch opened before the core's business day (or before today in the
    branch's zone): a branch closed on Sundays looks for Saturday on Monday morning."""
    today = v.hall.day or dt.datetime.fromtimestamp(now, ZoneInfo(v.cfg.branch.timezone)).date().isoformat()
    d = dt.date.fromisoformat(today) - dt.timedelta(days=1)
    for _ in range(6):
        if d.isoweekday() in v.cfg.hours.weekdays:
            break
        d -= dt.timedelta(days=1)
    return d.isoformat()


def _archive(archived: bool | None) -> Check:
    title = "昨日归档 Yesterday archived"
    if archived is None:
        return Check("archive", title, None, "未检查：没有连接历史库 not checked: no history store wired")
    if archived:
        return Check("archive", title, True, "已归档 archived")
    return Check("archive", title, False, "昨天的营业日不在历史库里 yesterday is not in the history store",
                 "在核心主机上运行 qcall day close --config <branch.toml> (docs/history.md)")
