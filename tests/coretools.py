"""Shared helpers for the queue-core tests: small branch configs built from TOML, staffed cores.

The example branch (examples/branch.toml) is realistic but big; most rule tests want a branch
shaped for the rule under test, so `small_cfg()` builds one from a few TOML fragments.
"""

from __future__ import annotations

from pathlib import Path

from qbus.config import BranchConfig, load, loads
from qcore import BranchCore

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "branch.toml"
EXAMPLE_CFG = load(EXAMPLE)

DAY = "2026-03-02"
T0 = 1_772_413_200.0  # 2026-03-02 09:00 Asia/Shanghai
MIN = 60.0

BUSINESS = """
[[business]]
code = "cash"
prefix = "A"
name_zh = "现金"
name_en = "Cash"
service_minutes = 4

[[business]]
code = "loan"
prefix = "B"
name_zh = "贷款"
name_en = "Loans"
service_minutes = 10
"""

TIERS = """
[[tier]]
code = "vip"
rank = 1
name_zh = "贵宾"
name_en = "VIP"
max_wait_minutes = 5
priority = true

[[tier]]
code = "prio"
rank = 2
name_zh = "优先"
name_en = "Priority"
max_wait_minutes = 8
priority = true

[[tier]]
code = "normal"
rank = 3
name_zh = "普通"
name_en = "Standard"
max_wait_minutes = 20
"""

COUNTERS = """
[[counter]]
id = 1
serves = { cash = 1, loan = 1 }
"""

TELLERS = "".join(
    f'\n[[teller]]\nid = "t{i}"\nname = "柜员{i}"\n' for i in range(1, 10)
)


def branch_toml(*, rules: str = "", counters: str = COUNTERS, tiers: str = TIERS,
                business: str = BUSINESS, rating: str = "") -> str:
    """A complete branch file; `rules` and `rating` are bodies of those tables."""
    return "\n".join([
        '[branch]\nid = "test"\nname_zh = "测试支行"\nname_en = "Test Branch"\n',
        f"[rules]\n{rules}\n",
        f"[rating]\n{rating}\n",
        business, tiers, counters, TELLERS,
    ])


def small_cfg(**parts: str) -> BranchConfig:
    return loads(branch_toml(**parts), "<test branch>")


def counter(cid: int, serves: str, prefers: str = "", tiers: str = "") -> str:
    """One [[counter]] table; serves like 'cash = 3, loan = 1', prefers/tiers like '"vip"'."""
    text = f"\n[[counter]]\nid = {cid}\nserves = {{ {serves} }}\n"
    if prefers:
        text += f"prefers = [{prefers}]\n"
    if tiers:
        text += f"tiers = [{tiers}]\n"
    return text


def staffed(cfg: BranchConfig, *counters: int, day: str = DAY, now: float = T0) -> BranchCore:
    """A core for `day` with a teller logged in at each of `counters`, events drained.

    The example branch has tellers 1001..1006 (one per counter); small configs have t1..t9.
    """
    core = BranchCore(cfg, day)
    ids = [t.id for t in cfg.teller]
    for cid in counters:
        teller = str(1000 + cid) if str(1000 + cid) in ids else f"t{cid}"
        core.login(now, cid, teller)
    core.drain()
    return core


def serve_one(core: BranchCore, cid: int, now: float, rate: int | None = None) -> str:
    """Call, start and finish one customer at `cid`; rate when `rate` is given. Returns the number."""
    t = core.call_next(now, cid)
    core.start(now, cid)
    core.finish(now, cid, request_rating=rate is not None)
    if rate:
        core.rate(now, cid, rate)
    return t.number
