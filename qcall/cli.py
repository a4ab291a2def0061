"""`qcall` — the one command-line tool. Errors print one clear line and exit non-zero."""

from __future__ import annotations

import argparse
import sys

from qbus.errors import QcallError


class UsageError(QcallError, ValueError):
    """A command-line argument is out of range."""

    code = "usage"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qcall", description="Bank-branch queue-calling system.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    check = sub.add_parser("check-config", help="validate a branch config file and exit")
    check.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    check.set_defaults(func=_check_config)

    sim = sub.add_parser(
        "simulate", help="run a branch day (or a plain FIFO queue) in virtual time; print KPIs as JSON",
        description="Runs a whole branch day through the real queue core in accelerated virtual time "
        "and prints the day's KPIs as JSON. With --policy fifo it runs a single FIFO queue with C "
        "identical counters (Poisson arrivals, exponential service) to compare with M/M/c theory.")
    sim.add_argument("--config", default="examples/branch.toml", help="branch TOML file (branch policy)")
    sim.add_argument("--seed", type=int, default=1, help="random seed (same seed, same day)")
    sim.add_argument("--policy", choices=["branch", "fifo"], default="branch")
    sim.add_argument("--arrivals-per-hour", type=float, default=None,
                     help="mean arrivals per hour (branch default 40)")
    sim.add_argument("--counters", type=int, default=3, help="fifo: identical counters")
    sim.add_argument("--service-minutes", type=float, default=5.0, help="fifo: mean service time")
    sim.add_argument("--hours", type=float, default=8.0, help="fifo: hours simulated")
    sim.add_argument("--calls", action="store_true", help="branch: also print each call as it happens")
    sim.set_defaults(func=_simulate)

    demo = sub.add_parser(
        "demo", help="run a whole demo branch on MQTT",
        description="Starts the embedded MQTT broker (unless bus.host is set), the core service and "
        "simulated devices: a kiosk issuing tickets, tellers calling, serving and asking for ratings, "
        "customers rating, and a terminal hall display. Service times run --speed times faster.")
    demo.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--speed", type=float, default=30.0, help="service-time speed-up (default 30)")
    demo.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0: at Ctrl-C)")
    demo.add_argument("--arrivals-per-hour", type=float, default=40.0,
                      help="customers per (sped-up) hour")
    demo.set_defaults(func=_demo)

    serve = sub.add_parser(
        "serve", help="run the core service (production)",
        description="Runs the queue core service against the broker in the config's [bus] section, "
        "journaling to storage.journal. Stop with SIGTERM or Ctrl-C.")
    serve.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    serve.set_defaults(func=_serve)

    prov = sub.add_parser(
        "provision", help="write Mosquitto credentials, password file, ACL and config for the branch",
        description="Writes credentials/<device>.password (0600), passwd, acl and mosquitto.conf into "
        "--out for every device the branch config implies. Existing passwords are kept unless --rotate.")
    prov.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    prov.add_argument("--out", default="var/broker", help="output folder")
    prov.add_argument("--rotate", action="store_true", help="issue new passwords for every device")
    prov.set_defaults(func=_provision)

    br = sub.add_parser(
        "bridge", help="run the serial bridge for one [[serial]] line (keypads and rating pads <-> bus)",
        description="One process per serial line: key frames become counter commands on the bus, the "
        "core's counter state becomes LED text, voice prompts and beeps on the pads. Reconnects when a "
        "USB adapter comes back. --port and --counter without --line bridge one counter's pads on a "
        "port that is not in the config (a `qcall keypad` twin).")
    br.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    br.add_argument("--line", default="", help="[[serial]] line: 0-based index, port path or its last part")
    br.add_argument("--port", default="", help="serial port instead of the line's own")
    br.add_argument("--counter", type=int, default=0, help="with --port and no --line: the counter wired")
    br.add_argument("--broker", default="", help="HOST:PORT instead of [bus] host/port (e.g. a demo's)")
    br.set_defaults(func=_bridge)

    kp = sub.add_parser(
        "keypad", help="a counter's keypad + rating pad twin on a pty, driven by hand",
        description="Starts a keypad and a star-rating pad twin on a pseudo-terminal speaking the real "
        "protocol at the line's baud rate, prints its path (point `qcall bridge` at it) and reads keys "
        "from the terminal; every LED text, voice prompt and beep the pads receive is printed.")
    kp.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    kp.add_argument("--counter", type=int, required=True, help="counter whose pads to simulate")
    kp.add_argument("--link", default="", help="path of the pty symlink (default: a temporary folder)")
    kp.set_defaults(func=_keypad)

    pin = sub.add_parser("pin-hash", help="print the pin_sha256 value for a teller's config entry")
    pin.add_argument("teller")
    pin.add_argument("pin")
    pin.set_defaults(func=_pin_hash)

    jr = sub.add_parser("journal", help="check or repair the core's journal",
                        description="check: verify every row's checksum and sequence. repair: copy the "
                        "file aside and cut the journal before its first bad row (a person's decision).")
    jr.add_argument("action", choices=["check", "repair"])
    jr.add_argument("--config", default="examples/branch.toml")
    jr.add_argument("--journal", default="", help="journal file (default: storage.journal from config)")
    jr.set_defaults(func=_journal)
    return p


def _simulate(args: argparse.Namespace) -> int:
    import json

    from qcall import simulate as s

    if args.policy == "fifo":
        if args.counters < 1 or args.service_minutes <= 0 or args.hours <= 0:
            raise UsageError("--counters, --service-minutes and --hours must be positive")
        rate = 30.0 if args.arrivals_per_hour is None else args.arrivals_per_hour
        out = s.simulate_fifo(args.counters, rate, args.service_minutes, args.hours, args.seed)
    else:
        from qbus.config import load

        params = s.DayParams()
        if args.arrivals_per_hour is not None:
            params.arrivals_per_hour = args.arrivals_per_hour
        on_call = _print_call if args.calls else None
        out = s.simulate_day(load(args.config), args.seed, params, on_call=on_call)
    print(json.dumps(out, ensure_ascii=False))
    return 0


def _print_call(ev: object) -> None:
    import time

    from qbus import messages as m

    if isinstance(ev, m.TicketCalled):
        hhmm = time.strftime("%H:%M", time.gmtime(ev.at + 8 * 3600))
        print(f"{hhmm}  请 {ev.number} 号到 {ev.counter} 号窗口  (waited {ev.waited_s / 60:4.1f} min, "
              f"{ev.tier})", flush=True)


def _demo(args: argparse.Namespace) -> int:
    import logging

    from qbus.config import load
    from qcall.demo import run_demo

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.speed <= 0:
        raise UsageError("--speed must be positive")
    run_demo(load(args.config), args.seconds, args.speed, args.seed)
    return 0


def _serve(args: argparse.Namespace) -> int:
    import logging
    import signal
    import threading

    from qbus.config import load
    from qserver.runner import CoreRunner
    from qserver.tuning import tune_gc, tune_latency

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = load(args.config)
    if not cfg.bus.host:
        raise UsageError(f"{args.config}: bus.host is empty; `qcall serve` needs a broker (see `qcall demo`)")
    password = ""
    if cfg.bus.password_file:
        from pathlib import Path

        password = Path(cfg.bus.password_file.format(device="core")).read_text(encoding="utf-8").strip()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    tune_gc()
    tune_latency()
    with CoreRunner(cfg, cfg.storage.journal, cfg.bus.host, cfg.bus.port,
                    username="core" if password else "", password=password) as runner:
        try:
            while not done.wait(1.0):
                if runner.failed is not None:
                    raise runner.failed
        except KeyboardInterrupt:
            pass
    return 0


def _bridge(args: argparse.Namespace) -> int:
    import logging
    import signal
    import threading

    from qbus.config import load
    from qcall.bridge import run_bridge
    from qserver.tuning import tune_latency

    tune_latency()  # serial, bus and worker threads take turns on every key (as bench/keypad.py runs)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = load(args.config)
    host, port = None, None
    if args.broker:
        host, _, port_text = args.broker.rpartition(":")
        if not host or not port_text.isdigit():
            raise UsageError(f"--broker {args.broker!r}: expected HOST:PORT")
        port = int(port_text)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        run_bridge(cfg, args.line, stop, serial_port=args.port, counter=args.counter, host=host, port=port)
    except KeyboardInterrupt:
        pass
    return 0


def _keypad(args: argparse.Namespace) -> int:
    from qbus.config import load
    from qcall.keypad import run_keypad

    def read_line(prompt: str) -> str | None:
        try:
            return input(prompt)
        except EOFError:
            return None

    if not 1 <= args.counter <= 999:
        raise UsageError("--counter must be 1..999")
    run_keypad(load(args.config), args.counter, read_line, lambda s: print(s, flush=True), link=args.link)
    return 0


def _provision(args: argparse.Namespace) -> int:
    from qbus.config import load
    from qbus.provision import provision

    done = provision(load(args.config), args.out, rotate=args.rotate)
    print(f"wrote {done.conf}, {done.passwd}, {done.acl} and {len(done.credentials)} device credentials "
          f"in {done.out_dir}/credentials ({len(done.created)} new)")
    return 0


def _pin_hash(args: argparse.Namespace) -> int:
    from qbus.config import pin_hash

    print(pin_hash(args.teller, args.pin))
    return 0


def _journal(args: argparse.Namespace) -> int:
    from qbus.config import load
    from qserver.errors import JournalCorrupt
    from qserver.journal import Journal

    path = args.journal or load(args.config).storage.journal
    j = Journal(path)
    try:
        try:
            n = j.verify()
        except JournalCorrupt as err:
            if args.action == "check":
                raise
            backup = j.cut_from(err.seq)
            print(f"{path}: cut at row {err.seq}; the original is kept as {backup}")
            return 0
        print(f"{path}: OK, {n} rows")
        return 0
    finally:
        j.close()


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
    except BrokenPipeError:  # `qcall demo | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
