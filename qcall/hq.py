"""`qcall hq provision | ingest | web | user | report`: the head-office commands (qhq, qbus.hqlink,
web.hq through qcall.hq_web)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qhistory.report import Report
    from qhq.config import HqConfig

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

    web = cmds.add_parser(
        "web", help="head office's pages: branches over target now, ranking, regions, one branch",
        description="The head-office web service (docs/hq.md): personal logins from [web] users_file "
        "(`qcall hq user add`), reading head office's PostgreSQL.")
    web.add_argument("--config", default="examples/hq.toml", help="head-office TOML file")
    web.add_argument("--bind", default="", help="listen address (default: [web] bind)")
    web.add_argument("--listen-port", type=int, default=0, help="listen port (default: [web] port)")
    web.set_defaults(func=_web)

    user = cmds.add_parser("user", help="head office's web logins: add a person, list",
                           description="The users file of `qcall hq web` ([web] users_file next to the "
                           "head-office config): the branch web's format, argon2id hashes.")
    usub = user.add_subparsers(dest="action", metavar="ACTION")
    usub.required = True
    ua = usub.add_parser("add", help="add a person (prompts for the password twice)",
                         description="Adds or replaces one login. Role manager sees tellers' ratings in "
                         "a branch's history report; lobby (a viewer) sees the same pages without them.")
    ua.add_argument("login", help="the person's own login, e.g. li.hua")
    ua.add_argument("--name", required=True, help="the name shown on the pages, e.g. 李华")
    ua.add_argument("--role", choices=["manager", "lobby"], default="manager")
    ua.add_argument("--config", default="examples/hq.toml", help="head-office TOML file")
    ua.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    ua.set_defaults(func=_user_add)
    ul = usub.add_parser("list", help="the logins (no hashes)", description="Each login, role and name.")
    ul.add_argument("--config", default="examples/hq.toml", help="head-office TOML file")
    ul.set_defaults(func=_user_list)

    rep = cmds.add_parser(
        "report", help="branches over target now, the month's satisfaction ranking, VIP by region",
        description="Reads head office's PostgreSQL. Text by default; --json or --html FILE.")
    rep.add_argument("--config", default="examples/hq.toml", help="head-office TOML file")
    rep.add_argument("--month", default="", help="YYYY-MM (default: this month)")
    rep.add_argument("--branch", default="", help="drill down to one branch (with its history report)")
    rep.add_argument("--day", default="", help="with --branch: the history report of this day (YYYY-MM-DD), "
                     "else of the month")
    rep.add_argument("--now", type=float, default=0.0, help="epoch seconds (default: the clock)")
    rep.add_argument("--json", action="store_true", help="print JSON")
    rep.add_argument("--html", default="", help="also write an HTML page here")
    rep.set_defaults(func=_report)


def _web(args: argparse.Namespace) -> int:
    from qcall.hq_web import build_hq_context
    from qcall.web import serve_app
    from qhq.config import load
    from web.hq.app import create_hq_app

    cfg = load(args.config)
    port = args.listen_port or cfg.web.port
    if not 1 <= port <= 65535:
        from qcall.cli import UsageError

        raise UsageError("--listen-port must be 1..65535")
    ctx = build_hq_context(cfg, Path(args.config))
    _LOG.info("head-office web on http://%s:%d/", args.bind or cfg.web.bind, port)
    serve_app(create_hq_app(ctx), args.bind or cfg.web.bind, port)
    return 0


def _user_add(args: argparse.Namespace) -> int:
    from qcall.cli import new_password
    from qhq.config import beside, load
    from web.users import add_user

    path = beside(Path(args.config), load(args.config).web.users_file)
    user = add_user(path, args.login, args.name, args.role, new_password(args.login, args.password_stdin))
    print(f"{path}: {user.login} ({user.name}, {user.role}) saved")
    return 0


def _user_list(args: argparse.Namespace) -> int:
    from qhq.config import beside, load
    from web.users import load_users

    path = beside(Path(args.config), load(args.config).web.users_file)
    for u in load_users(path).values():
        print(f"{u.login:<20} {u.role:<8} {u.name}")
    return 0


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


def branch_history(cfg: HqConfig, branch: str, now: float, month: str, day: str = "") -> Report | None:
    """The history's report of one branch (the day, else the month) from head office's store; None
    when head office has no config for the branch. Bad dates are a UsageError."""
    from qcall.cli import UsageError
    from qhistory import period as pd
    from qhq.history import BranchConfigs, open_history, report

    bcfg = BranchConfigs(cfg).get(branch)
    if bcfg is None:
        return None
    try:
        p = pd.day(day) if day else pd.month(month)
    except ValueError as err:
        raise UsageError(f"--day {day!r}: {err}") from err
    store = open_history(cfg)
    try:
        return report(store, bcfg, p, now)
    finally:
        store.close()


def _report(args: argparse.Namespace) -> int:
    import msgspec
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
    extra = ""
    if args.branch:
        rep = branch_history(cfg, args.branch, args.now or time.time(), report["month"], args.day)
        report["branch"]["history"] = None if rep is None else msgspec.to_builtins(rep)
        if rep is not None:
            from qhistory import render

            extra = render.body(rep)
    if args.html:
        Path(args.html).write_text(page(report, extra), encoding="utf-8")
    print(json.dumps(report, ensure_ascii=False, indent=1) if args.json else text(report), end="" if not args.json else "\n")
    return 0
