"""`qcall hq provision | ingest | report`: the head-office commands (qhq, qbus.hqlink)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import time
from pathlib import Path
from typing import Any

_LOG = logging.getLogger(__name__)


def add_parser(sub: Any) -> None:
    hq = sub.add_parser("hq", help="head office: the central broker, the ingest into PostgreSQL, reports",
                        description="Head office reads every branch: see docs/hq.md.")
    cmds = hq.add_subparsers(dest="hq_command", metavar="HQ_COMMAND")
    cmds.required = True

    prov = cmds.add_parser(
        "provision", help="write the central broker's config, password file, ACL and credentials",
        description="One MQTT user per branch bridge (branch-<id>: its own tree only), the ingest "
        "worker(s) and the push user; a TLS listener for the branches with --certfile/--keyfile.")
    prov.add_argument("--config", default="examples/hq.toml", help="head-office TOML file")
    prov.add_argument("--out", default="var/hq-broker", help="output folder")
    prov.add_argument("--workers", type=int, default=1, help="ingest workers (one MQTT user each)")
    prov.add_argument("--certfile", default="", help="the central broker's TLS certificate")
    prov.add_argument("--keyfile", default="", help="its private key")
    prov.add_argument("--tls-port", type=int, default=8883)
    prov.add_argument("--rotate", action="store_true", help="new passwords for every user")
    prov.set_defaults(func=_provision)

    ing = cmds.add_parser(
        "ingest", help="store every branch's events in PostgreSQL (runs until SIGTERM)",
        description="Subscribes to every branch on the central broker (persistent session, QoS 1) "
        "and writes batches into PostgreSQL, idempotent by (branch, seq, n).")
    ing.add_argument("--config", default="examples/hq.toml", help="head-office TOML file")
    ing.add_argument("--share", default="", help="shared-subscription group (several workers)")
    ing.add_argument("--client-id", default="", help="MQTT client id (default: the broker username)")
    ing.add_argument("--username", default="", help="this worker's MQTT user (default: [broker] username)")
    ing.add_argument("--password-file", default="", help="its password file (default: [broker] password_file)")
    ing.set_defaults(func=_ingest)

    rep = cmds.add_parser(
        "report", help="branches over target now, the month's satisfaction ranking, VIP by region",
        description="Reads head office's PostgreSQL. Text by default; --json or --html FILE.")
    rep.add_argument("--config", default="examples/hq.toml", help="head-office TOML file")
    rep.add_argument("--month", default="", help="YYYY-MM (default: this month)")
    rep.add_argument("--branch", default="", help="drill down to one branch")
    rep.add_argument("--now", type=float, default=0.0, help="epoch seconds (default: the clock)")
    rep.add_argument("--json", action="store_true", help="print JSON")
    rep.add_argument("--html", default="", help="also write an HTML page here")
    rep.set_defaults(func=_report)


def _provision(args: argparse.Namespace) -> int:
    from qbus.hqlink import provision_central
    from qhq.config import load

    cfg = load(args.config)
    if args.workers < 1:
        from qcall.cli import UsageError

        raise UsageError("--workers must be at least 1")
    done = provision_central([b.id for b in cfg.branch], args.out, prefix=cfg.hq.prefix,
                             workers=args.workers, rotate=args.rotate, local_port=cfg.broker.port,
                             tls_port=args.tls_port, certfile=args.certfile, keyfile=args.keyfile)
    print(f"wrote {done.conf}, {done.passwd}, {done.acl} and {len(done.credentials)} credentials in "
          f"{done.out_dir}/credentials ({len(done.created)} new): give each branch its "
          "branch-<id>.password for [hq] password_file")
    return 0


def _ingest(args: argparse.Namespace) -> int:
    import msgspec

    from qhq.config import load
    from qhq.ingest import Ingest

    cfg = load(args.config)
    if args.username or args.password_file:  # one config, several workers (docs/hq.md, scaling)
        broker = msgspec.structs.replace(cfg.broker, username=args.username or cfg.broker.username,
                                         password_file=args.password_file or cfg.broker.password_file)
        cfg = msgspec.structs.replace(cfg, broker=broker)
    ingest = Ingest(cfg, client_id=args.client_id, share=args.share)

    def on_term(_sig: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        ingest.run_forever()
    except KeyboardInterrupt:
        _LOG.info("ingest stopping: %s", ingest.totals)
    return 0


def _report(args: argparse.Namespace) -> int:
    import psycopg

    from qbus.errors import ConfigError
    from qhq.config import load
    from qhq.report import Reports, page, text

    cfg = load(args.config)
    try:
        conn = psycopg.connect(cfg.database.dsn, autocommit=True)
    except psycopg.OperationalError as err:
        raise ConfigError(f"database.dsn: cannot connect: {str(err).strip().splitlines()[0]}") from err
    with conn:
        try:
            report = Reports(cfg, conn).all(args.now or time.time(), args.month, args.branch)
        except ValueError as err:
            from qcall.cli import UsageError

            raise UsageError(str(err)) from err
        except psycopg.errors.UndefinedTable as err:
            raise ConfigError(f"database: no head-office tables in schema {cfg.database.schema!r} "
                              "(run `qcall hq ingest` once)") from err
    if args.html:
        Path(args.html).write_text(page(report), encoding="utf-8")
    print(json.dumps(report, ensure_ascii=False, indent=1) if args.json else text(report), end="" if not args.json else "\n")
    return 0
