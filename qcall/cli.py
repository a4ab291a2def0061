"""`qcall` — the one command-line tool. Errors print one clear line and exit non-zero."""

from __future__ import annotations

import argparse
import sys

from qbus.errors import QcallError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qcall", description="Bank-branch queue-calling system.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    check = sub.add_parser("check-config", help="validate a branch config file and exit")
    check.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    check.set_defaults(func=_check_config)
    return p


def _check_config(args: argparse.Namespace) -> int:
    from qbus.config import load

    cfg = load(args.config)
    print(f"{args.config}: OK — {cfg.branch.name_zh} / {cfg.branch.name_en}, "
          f"{len(cfg.business)} business types, {len(cfg.counter)} counters")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except QcallError as err:
        print(f"qcall: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
