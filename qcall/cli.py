"""`qcall` — the one command-line tool. Errors print one clear line and exit non-zero."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from qbus.errors import QcallError

if TYPE_CHECKING:
    from collections.abc import Callable

    from qbus.client import BusClient
    from qbus.config import BranchConfig


class UsageError(QcallError, ValueError):
    """A command-line argument is out of range."""

    code = "usage"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qcall", description="Bank-branch queue-calling system.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    check = sub.add_parser("check-config", help="validate a branch config file and exit",
                           description="Loads the branch TOML the way every component does and refuses "
                           "anything any of them would refuse, naming the field; prints a one-line "
                           "summary when the file is good.")
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
    sim.add_argument("--days", type=int, default=0, help="branch: simulate this many days into --history")
    sim.add_argument("--history", default="", help="with --days: history store (SQLite file or DSN)")
    sim.add_argument("--start", default="", help="with --days: first day (default: the 1st of last month)")
    sim.set_defaults(func=_simulate)

    demo = sub.add_parser(
        "demo", help="run a whole demo branch on MQTT",
        description="Starts the embedded MQTT broker (unless bus.host is set), the core service and "
        "the branch's devices as twins: the real kiosk flow with card, ID and passbook readers and a "
        "printer, keypads and star-rating pads on pseudo-terminals through the real serial bridge, "
        "and the real hall display (a window, or var/demo/hall.png with no screen). Calls are "
        "printed as they happen and the day's KPIs at the end. Service times run --speed times "
        "faster.")
    demo.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--speed", type=float, default=30.0, help="service-time speed-up (default 30)")
    demo.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0: at Ctrl-C)")
    demo.add_argument("--arrivals-per-hour", type=float, default=60.0,
                      help="customers per (sped-up) hour")
    demo.add_argument("--port", type=int, default=None,
                      help="port for the embedded broker (default: bus.port, or a free one when taken)")
    demo.set_defaults(func=_demo)

    serve = sub.add_parser(
        "serve", help="run the core service (production)",
        description="Runs the queue core service against the broker in the config's [bus] section, "
        "journaling to storage.journal. Stop with SIGTERM or Ctrl-C.")
    serve.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    serve.set_defaults(func=_serve)

    prov = sub.add_parser(
        "provision", help="write Mosquitto credentials, password file, ACL and config for the branch",
        description="Writes credentials/<device>.password (0600), passwd, acl and mosquitto.conf (a drop-in "
        "for Debian's /etc/mosquitto/conf.d/) into --out for every device the branch config implies; with "
        "[bus] tls = true also the branch CA (ca.crt, kept) and the broker's certificate (openssl). Run as "
        "root so mosquitto's group may read its files. Existing passwords are kept unless --rotate.")
    prov.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    prov.add_argument("--out", default="var/broker", help="output folder")
    prov.add_argument("--rotate", action="store_true", help="issue new passwords for every device")
    prov.set_defaults(func=_provision)

    from qcall import hq  # head office: `qcall hq provision | ingest | report`

    hq.add_parser(sub)

    disp = sub.add_parser(
        "display", help="run the hall display (screen of called numbers, voice calling)",
        description="Full-screen hall display driven by the bus ([bus] in the config; the display "
        "device is display1). Missing voice clips are made with espeak-ng at start; without an audio "
        "device it runs silent. Close with Escape, the window's close button or Ctrl-C.")
    disp.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    disp.add_argument("--headless", action="store_true",
                      help="render off-screen (SDL dummy video driver); pair with --png-dir")
    disp.add_argument("--png-dir", default="", help="write the screen to DIR/hall.png every few seconds")
    disp.add_argument("--png-every", type=float, default=2.0, help="seconds between snapshots")
    disp.add_argument("--host", default=None, help="broker host (default: bus.host)")
    disp.add_argument("--port", type=int, default=None, help="broker port (default: bus.port)")
    disp.add_argument("--silent", action="store_true", help="no voice, whatever [voice] says")
    disp.set_defaults(func=_display)

    voice = sub.add_parser("voice", help="make the voice clips, or say one call (speaker check)",
                           description="build: make the Mandarin and English word clips the hall display "
                           "joins into calls (espeak-ng, once, at set-up). say: say one call through the "
                           "speakers as the display would, to check the audio.")
    vsub = voice.add_subparsers(dest="action", metavar="ACTION")
    vsub.required = True
    vb = vsub.add_parser("build", help="make the default clips with espeak-ng into [voice] clips_dir",
                         description="Makes every word clip the announcer needs (digits, letters, the "
                         "words of the counters' English names) into [voice] clips_dir; clips already "
                         "there are kept unless --force.")
    vb.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    vb.add_argument("--force", action="store_true", help="remake clips that already exist")
    vb.set_defaults(func=_voice_build)
    vs = vsub.add_parser("say", help="say one call through the speakers, as the display would",
                         description="Says one call (--number at --counter, optionally as a recall) "
                         "through the speakers with the configured voice, without the bus.")
    vs.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    vs.add_argument("--number", default="A001")
    vs.add_argument("--counter", type=int, default=3)
    vs.add_argument("--recall", type=int, default=0)
    vs.set_defaults(func=_voice_say)

    br = sub.add_parser(
        "bridge", help="run the serial bridge for one [[serial]] line (keypads and rating pads <-> bus)",
        description="One process per serial line: key frames become counter commands on the bus, the "
        "core's counter state becomes LED text, voice prompts and beeps on the pads. Reconnects when a "
        "USB adapter comes back. --serial and --counter without --line bridge one counter's pads on a "
        "port that is not in the config (a `qcall keypad` twin); --host/--port name the broker, as for "
        "every other command.")
    br.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    br.add_argument("--line", default="", help="[[serial]] line: 0-based index, port path or its last part")
    br.add_argument("--serial", default="", help="serial port instead of the line's own (e.g. a `qcall keypad` pty)")
    br.add_argument("--counter", type=int, default=0, help="with --serial and no --line: the counter wired")
    _bus_args(br)
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

    pn = sub.add_parser(
        "panel", help="the software counter panel (a counter with no hardware keypad), in the terminal",
        description="Connects as counter<N> and drives the same state machine as the serial keypad "
        "from the terminal: n call next, r recall, s skip, w 欢迎光临, e 客户评价, t 3 / t B transfer, "
        "p pause, c resume, logout, quit. Log in with the teller id and PIN (read without echo). "
        "It cannot rate: ratings come from the customer's rating pad.")
    pn.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    pn.add_argument("--counter", type=int, required=True, help="this counter's number")
    _bus_args(pn)
    pn.set_defaults(func=_panel)

    _pin_parsers(sub)

    kiosk = sub.add_parser(
        "kiosk", help="run a ticket kiosk on the branch bus",
        description="Runs the ticket kiosk of the config's [kiosk] section: its readers, printer, touch "
        "screen and GPIO buttons, issuing through the core over the broker in [bus]. --twin simulates "
        "every device (printer twin, reader twins on pseudo-terminals, mock GPIO pins), prints the "
        "twins' device paths and reads lines to drive them: swipe, id 19450301, passbook, paper out, "
        "paper in, cover open, press cash, ticket, help, quit.")
    kiosk.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    kiosk.add_argument("--twin", action="store_true", help="simulated readers, printer and buttons")
    kiosk.add_argument("--no-screen", action="store_true", help="no touch screen (buttons only)")
    kiosk.add_argument("--host", default="", help="broker host (default: bus.host)")
    kiosk.add_argument("--port", type=int, default=0, help="broker port (default: bus.port)")
    kiosk.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0: at SIGTERM)")
    kiosk.set_defaults(func=_kiosk)

    roster = sub.add_parser("roster", help="customer tier roster tools",
                            description="build: turn the bank's CSV of card numbers and tiers into the "
                            "kiosk's roster of keyed hashes (the numbers themselves are kept nowhere).")
    roster_sub = roster.add_subparsers(dest="action", metavar="ACTION")
    roster_sub.required = True
    build = roster_sub.add_parser(
        "build", help="build the tier roster (keyed hashes) from the bank's CSV of card numbers",
        description="Reads a CSV with a header naming a number column (card, account, id_number, 卡号, ...) "
        "and a tier column (tier, level, 等级), and writes `hash,tier` lines (HMAC-SHA256 under the "
        "branch key, mode 0600). The raw numbers are written nowhere else and never printed.")
    build.add_argument("--config", default="examples/branch.toml", help="branch TOML file (tiers, key file)")
    build.add_argument("--key-file", default="", help="hash key file (default: privacy.hash_key_file)")
    build.add_argument("--csv", required=True, help="the bank's CSV export")
    build.add_argument("--out", required=True, help="roster file to write")
    build.set_defaults(func=_roster_build)

    jr = sub.add_parser("journal", help="check or repair the core's journal",
                        description="check: verify every row's checksum and sequence. repair (a person's "
                        "decision, with the service stopped): keep the damaged file aside and rebuild the "
                        "journal from every intact row, read page by page (a truncated or torn file too).")
    jr.add_argument("action", choices=["check", "repair"])
    jr.add_argument("--config", default="examples/branch.toml")
    jr.add_argument("--journal", default="", help="journal file (default: storage.journal from config)")
    jr.set_defaults(func=_journal)
    _manager_parsers(sub)
    _web_parsers(sub)
    return p


def _web_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    web = sub.add_parser(
        "web", help="run the branch web service (the manager's and the lobby's pages)",
        description="Serves the Now dashboard, the lobby's actions, the counters, the opening check and "
        "the reports on [web] bind:port (plain HTTP: put a TLS reverse proxy in front, see "
        "docs/operations.md). Reads the bus as web.device and sends lobby commands as web.lobby_device. "
        "Needs the users file (`qcall user add`); the session secret file is made on first start.")
    web.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    web.add_argument("--bind", default=None, help="listen address (default: web.bind)")
    web.add_argument("--listen-port", type=int, default=None, help="listen port (default: web.port)")
    _bus_args(web)
    web.set_defaults(func=_web)

    user = sub.add_parser("user", help="web logins: add a person (or change their password or role), list",
                          description="The personal logins of the web pages (users file next to the config, "
                          "web.users_file): one per person, role manager or lobby, argon2id hashes.")
    usub = user.add_subparsers(dest="action", metavar="ACTION")
    usub.required = True
    ua = usub.add_parser("add", help="add a person to the users file (prompts for the password)",
                         description="Adds or replaces one web login in the users file next to the config "
                         "(web.users_file). The password is asked twice without echo and stored as an "
                         "argon2id hash; --password-stdin reads it from one line of standard input.")
    ua.add_argument("login", help="the person's own login, e.g. zhou.min (never a shared one)")
    ua.add_argument("--name", required=True, help="the name shown on the pages and in reports, e.g. 周敏")
    ua.add_argument("--role", choices=["manager", "lobby"], required=True)
    ua.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    ua.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    ua.set_defaults(func=_user_add)
    ul = usub.add_parser("list", help="the logins in the users file (no hashes)",
                         description="Prints each web login with its role and name; never a hash.")
    ul.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    ul.set_defaults(func=_user_list)

    doc = sub.add_parser(
        "doctor", help="开门前检查: the opening check (exit code 1 if anything failed)",
        description="Checks the broker and the core answer, every configured keypad and rating pad is "
        "online, the kiosk's printer has paper, the display is alive, the clock is sane, there is disk "
        "space and yesterday was archived; prints each failure with its fix. The web service's "
        "Opening check page shows the same list.")
    doc.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    doc.add_argument("--wait", type=float, default=3.0, help="seconds to wait for the bus's state")
    _bus_args(doc)
    doc.set_defaults(func=_doctor)


def _web(args: argparse.Namespace) -> int:
    from pathlib import Path

    from qbus.config import load
    from qcall.web import build_context, serve

    cfg = load(args.config)
    ctx = build_context(cfg, Path(args.config), host=args.host, port=args.port)
    port = args.listen_port or cfg.web.port
    if not 1 <= port <= 65535:
        raise UsageError("--listen-port must be 1..65535")
    serve(ctx, args.bind or cfg.web.bind, port)
    return 0


def new_password(login: str, from_stdin: bool) -> str:
    """A new web password: one line of stdin, or asked twice without echo."""
    import getpass

    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    password = getpass.getpass(f"password for {login}: ")
    if getpass.getpass("again: ") != password:
        raise UsageError("the two passwords differ")
    return password


def _user_add(args: argparse.Namespace) -> int:
    from pathlib import Path

    from qbus.config import load
    from qcall.web import beside
    from web.users import add_user

    cfg = load(args.config)
    path = beside(Path(args.config), cfg.web.users_file)
    user = add_user(path, args.login, args.name, args.role, new_password(args.login, args.password_stdin))
    print(f"{path}: {user.login} ({user.name}, {user.role}) saved")
    return 0


def _user_list(args: argparse.Namespace) -> int:
    from pathlib import Path

    from qbus.config import load
    from qcall.web import beside
    from web.users import load_users

    cfg = load(args.config)
    for u in load_users(beside(Path(args.config), cfg.web.users_file)).values():
        print(f"{u.login}\t{u.role}\t{u.name}")
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from qbus.config import load
    from qcall.web import doctor
    from web.checks import failed

    found = doctor(load(args.config), host=args.host, port=args.port, wait_s=args.wait)
    for c in found:
        mark = "?" if c.ok is None else ("OK" if c.ok else "FAIL")
        print(f"{mark:4}  {c.title}: {c.detail}" + (f"\n      -> {c.fix}" if c.fix and not c.ok else ""))
    bad = failed(found)
    print(f"{len(bad)} problem(s)" if bad else "all clear")
    return 1 if bad else 0


def _pin_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pin = sub.add_parser(
        "pin", help="set a teller's PIN (on the branch server) or lift a PIN lockout",
        description="Teller PINs: `set` stores a new PIN's argon2id hash in [pins] file on the branch "
        "server (the only copy; kiosks and counters hold none); `unlock` lifts a lockout after wrong PINs.")
    psub = pin.add_subparsers(dest="action", metavar="ACTION")
    psub.required = True
    ps = psub.add_parser(
        "set", help="ask for a teller's new PIN (twice, not echoed) and store its argon2id hash",
        description="Run on the branch server. Reads the PIN twice without echo (from the terminal; "
        "from two stdin lines when stdin is not one) and writes its argon2id hash to [pins] file "
        "(mode 0600). Refuses weak PINs: the teller id, one digit repeated, runs like 1234, common ones. "
        "A running `qcall serve` picks the change up at the next login.")
    ps.add_argument("teller", help="the teller id, as in the branch file's [[teller]]")
    ps.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    ps.add_argument("--file", default="", help="PIN file (default: [pins] file)")
    ps.set_defaults(func=_pin_set)
    pu = psub.add_parser(
        "unlock", help="lift a teller's PIN lockout now (as manager1)",
        description="Asks the core to forget the wrong PINs of a teller id (and free the devices "
        "that were locked guessing): for the teller who mistyped, once you know it was them.")
    pu.add_argument("teller")
    pu.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    _bus_args(pu)
    pu.set_defaults(func=_pin_unlock)

    hk = sub.add_parser(
        "hash-key", help="make the branch's hash key (once; the same file then goes to every kiosk)",
        description="Writes 32 random bytes (hex, mode 0600) to --out or [privacy] hash_key_file. "
        "Never replaces an existing key: every roster and staff-card hash is made with it.")
    hk.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    hk.add_argument("--out", default="", help="key file (default: privacy.hash_key_file)")
    hk.set_defaults(func=_hash_key)


def _manager_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from qcall import cli_history

    cli_history.add_parsers(sub, _report)

    note = sub.add_parser(
        "notice", help="set or clear the hall display's scrolling notice (as manager1)",
        description="Publishes the retained notice the hall display scrolls. --clear goes back to the "
        "notice in the display's config.")
    note.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    note.add_argument("--zh", default="", help="Chinese text")
    note.add_argument("--en", default="", help="English text")
    note.add_argument("--clear", action="store_true", help="remove the notice set on the bus")
    _bus_args(note)
    note.set_defaults(func=_notice)

    clk = sub.add_parser(
        "confirm-clock", help="confirm the branch clock where the Pi has no time sync (as manager1)",
        description="A branch does not open its day on a clock nobody confirmed (no NTP yet: the hall "
        "shows 系统时间未确认). Run this from a device whose clock is right (a laptop or phone on NTP): "
        "its time is sent, and the core trusts it from now on.")
    clk.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    clk.add_argument("--time", default="", help="the correct local time, YYYY-MM-DD HH:MM[:SS] "
                     "(default: this machine's clock)")
    _bus_args(clk)
    clk.set_defaults(func=_confirm_clock)

    watch = sub.add_parser(
        "watch", help="print wait alerts, devices going offline and live KPIs (as manager1)",
        description="Follows the branch bus: wait alerts (anyone over the limit, VIPs over their "
        "target), devices going offline or coming back (kiosk, bridges, pads, display), and the live "
        "KPIs when they change. Stop with Ctrl-C.")
    watch.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    watch.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0: at Ctrl-C)")
    _bus_args(watch)
    watch.set_defaults(func=_watch)


    bi = sub.add_parser("book-import", help="import a booking system's CSV export of appointments (as manager1)",
                        description="Columns: code,date,time,business,tier,name,id_number (docs/web.md). "
                        "Every row is checked first; a bad row refuses the whole file.")
    bi.add_argument("file", help="the CSV file")
    bi.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    bi.add_argument("--by", default="", help="who imports (recorded with each booking)")
    _bus_args(bi)
    bi.set_defaults(func=_book_import)

    for name, what, why in (
            ("requeue", "put a missed customer who came back into the queue again",
             "The ticket must have been skipped (过号) within the re-queue window; it goes back in the "
             "queue (front or back, as [rules] requeue_position says). The core refuses an unknown "
             "number, one outside the window, or one not missed."),
            ("cancel", "cancel a ticket (the customer left, or a number printed by mistake)",
             "The ticket leaves the queue and will not be called; a ticket already being served or "
             "finished cannot be cancelled. The core refuses an unknown number.")):
        tk = sub.add_parser(name, help=f"{what} (as manager1)",
                            description=f"{what[0].upper()}{what[1:]}, as manager1. {why}")
        tk.add_argument("number", help="the ticket number, e.g. A012")
        tk.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
        _bus_args(tk)
        tk.set_defaults(func=_ticket_op)
    ack = sub.add_parser("ack", help="acknowledge a ticket's wait alerts, naming who (as manager1)",
                         description="Tells the core that a staff member has seen the wait alerts of a ticket "
                         "and is dealing with them; the history keeps who and when.")
    ack.add_argument("number", help="the ticket number, e.g. D004")
    ack.add_argument("--by", required=True, help="the staff member's id (a [[teller]] of the config)")
    ack.add_argument("--config", default="examples/branch.toml", help="branch TOML file")
    _bus_args(ack)
    ack.set_defaults(func=_ticket_op)


def _bus_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=None, help="broker host (default: bus.host from the config)")
    p.add_argument("--port", type=int, default=None, help="broker port (default: bus.port)")


def _device_client(args: argparse.Namespace, cfg: BranchConfig, device: str) -> BusClient:
    """A bus client for `device` at --host/--port (default: the config's [bus]), credentials from
    the config's password file."""
    from qbus.client import BusClient

    host = args.host if args.host is not None else cfg.bus.host
    if not host:
        raise UsageError("no broker: bus.host is empty in the config; give --host/--port "
                         "(`qcall demo` prints its broker's address)")
    port = args.port if args.port is not None else cfg.bus.port
    return BusClient.from_config(cfg.bus, cfg.branch.id, device, host=host, port=port)


def _manager_client(args: argparse.Namespace) -> BusClient:
    from qbus.config import load

    return _device_client(args, load(args.config), "manager1")


def _panel(args: argparse.Namespace) -> int:
    from counter_panel.terminal import stdin_reader
    from qbus.config import load
    from qcall.panel import BusPanel

    cfg = load(args.config)
    bus = _device_client(args, cfg, f"counter{args.counter}")
    panel = BusPanel(cfg, args.counter, bus, lambda line: print(line, flush=True))
    try:
        panel.start()
        panel.run(stdin_reader)
    finally:
        panel.close()
    return 0


def _ticket_op(args: argparse.Namespace) -> int:
    from qbus import messages as m
    from qcall.manager import ticket_op

    number = args.number.upper()
    cmd: m.Requeue | m.Cancel | m.AckAlert
    if args.command == "ack":
        cmd = m.AckAlert(number=number, by=args.by)
    else:
        cmd = m.Requeue(number=number) if args.command == "requeue" else m.Cancel(number=number)
    bus = _manager_client(args)
    try:
        bus.connect(10)
        ticket_op(bus, cmd)  # a refusal is a QcallError: main() prints it in one line
    finally:
        bus.close()
    done = {"requeue": "back in the queue", "cancel": "cancelled",
            "ack": f"alerts acknowledged by {getattr(args, 'by', '')}"}
    print(f"{number}: {done[args.command]}")
    return 0


def _confirm_clock(args: argparse.Namespace) -> int:
    import datetime as dt
    import time
    from zoneinfo import ZoneInfo

    from qbus import messages as m
    from qbus.config import load

    now = time.time()
    if args.time:
        try:
            local = dt.datetime.fromisoformat(args.time)
        except ValueError:
            raise UsageError(f"--time {args.time!r}: give YYYY-MM-DD HH:MM[:SS]") from None
        now = local.replace(tzinfo=ZoneInfo(load(args.config).branch.timezone)).timestamp()
    bus = _manager_client(args)
    try:
        bus.connect(10)
        reply = bus.request(m.ConfirmClock(now=now))
    finally:
        bus.close()
    if not reply.ok:
        err = reply.error
        raise UsageError(f"clock not confirmed: {err.zh} / {err.en}" if err else "clock not confirmed")
    print(f"branch clock confirmed as {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(now))}")
    return 0


def _book_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kiosk.recognition import KeyedHasher, load_key
    from qbus.config import load
    from qbus.errors import QcallError
    from qcall.bookings_import import import_file

    cfg = load(args.config)
    try:
        hasher = KeyedHasher(load_key(cfg.privacy.hash_key_file, create=False)).hash_number
    except QcallError:
        hasher = None
    bus = _device_client(args, cfg, "manager1")
    try:
        bus.connect(10)
        booked, refused = import_file(cfg, Path(args.file), bus, hasher, args.by[:32])
    finally:
        bus.close()
    print(f"{booked} booked" + "".join(f"\nrefused: {r}" for r in refused))
    return 1 if refused else 0


def _report(args: argparse.Namespace) -> int:
    from qbus.config import load
    from qcall.manager import dumps, report, report_text

    cfg = load(args.config)
    k = report(cfg, args.journal or cfg.storage.journal)
    print(dumps(k) if args.json else report_text(cfg, k))
    return 0


def _notice(args: argparse.Namespace) -> int:
    from qcall.manager import set_notice

    if not args.clear and not (args.zh or args.en):
        raise UsageError("give --zh and/or --en, or --clear")
    bus = _manager_client(args)
    try:
        bus.connect(10)
        set_notice(bus, "" if args.clear else args.zh, "" if args.clear else args.en)
    finally:
        bus.close()
    print("notice cleared" if args.clear else "notice set")
    return 0


def _watch(args: argparse.Namespace) -> int:
    import logging
    import threading
    from zoneinfo import ZoneInfo

    from qbus.config import load
    from qcall.cli_history import overdue_lines
    from qcall.manager import Watch

    cfg = load(args.config)
    for line in overdue_lines(cfg, cfg.storage.journal):
        print(line, flush=True)
    bus = _device_client(args, cfg, "manager1")
    # the watch says itself when the broker goes and comes back, once each: paho's reconnect
    # attempts would repeat "Client is not connected" until Ctrl-C
    logging.getLogger("qbus.client").setLevel(logging.CRITICAL)
    Watch(bus, lambda line: print(line, flush=True), tz=ZoneInfo(cfg.branch.timezone))
    stop = threading.Event()
    try:
        bus.connect(10)
        stop.wait(args.seconds if args.seconds > 0 else None)
    except KeyboardInterrupt:
        pass
    finally:
        bus.close()
    return 0


def _simulate(args: argparse.Namespace) -> int:
    import json

    from qcall import simulate as s

    if args.days:
        return _simulate_days(args)
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
        cfg = load(args.config)
        on_call = _call_printer(cfg) if args.calls else None
        out = s.simulate_day(cfg, args.seed, params, on_call=on_call)
    print(json.dumps(out, ensure_ascii=False))
    return 0


def _simulate_days(args: argparse.Namespace) -> int:
    import datetime as dt

    from qbus.config import load
    from qcall.simulate_month import simulate_month
    from qhistory.store import open_store

    if not args.history:
        raise UsageError("--days needs --history FILE (where the simulated days are archived)")
    if not 1 <= args.days <= 400:
        raise UsageError("--days: 1..400")
    if args.start:
        try:
            first = dt.date.fromisoformat(args.start)
        except ValueError:
            raise UsageError(f"--start: {args.start!r} is not a date (YYYY-MM-DD)") from None
    else:
        first = (dt.date.today().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    cfg = load(args.config)
    store = open_store(args.history)
    try:
        days = simulate_month(cfg, store, first, args.days, seed=args.seed,
                              arrivals_per_hour=args.arrivals_per_hour or 40.0)
    finally:
        store.close()
    print(f"{len(days)} days archived into {args.history}: {days[0]} .. {days[-1]}" if days else "no open days")
    return 0



def _call_printer(cfg: BranchConfig) -> Callable[[object], None]:
    """`simulate --calls`: each call in branch time, Chinese and English, the counter by its name."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from qbus import messages as m

    tz = ZoneInfo(cfg.branch.timezone)
    names = {c.id: (c.name_zh or f"{c.id}号窗口", c.name_en or f"Counter {c.id}") for c in cfg.counter}

    def show(ev: object) -> None:
        if isinstance(ev, m.TicketCalled):
            zh, en = names.get(ev.counter, (f"{ev.counter}号窗口", f"Counter {ev.counter}"))
            print(f"{datetime.fromtimestamp(ev.at, tz):%H:%M}  请 {ev.number} 号到 {zh}  "
                  f"{ev.number} to {en}  (等了 waited {ev.waited_s / 60:4.1f} min, {ev.tier})", flush=True)

    return show


def _demo(args: argparse.Namespace) -> int:

    from qbus.config import load
    from qcall.demo import run_demo

    if args.speed <= 0:
        raise UsageError("--speed must be positive")
    if args.arrivals_per_hour <= 0:
        raise UsageError("--arrivals-per-hour must be positive")
    if args.port is not None and not 0 < args.port < 65536:
        raise UsageError("--port must be 1..65535")
    run_demo(load(args.config), args.seconds, args.speed, args.seed,
             arrivals_per_hour=args.arrivals_per_hour, port=args.port)
    return 0


def _serve(args: argparse.Namespace) -> int:
    import signal
    import threading
    from pathlib import Path

    from qbus.config import load
    from qserver.pins import PinBook, check_file_mode, refuse_unsafe
    from qserver.runner import CoreRunner
    from qserver.tuning import tune_gc, tune_latency

    cfg = load(args.config)
    if not cfg.bus.host:
        raise UsageError(f"{args.config}: bus.host is empty; `qcall serve` needs a broker (see `qcall demo`)")
    password = ""
    if cfg.bus.password_file:
        password = Path(cfg.bus.password_file.format(device="core")).read_text(encoding="utf-8").strip()
    pins_file = Path(cfg.pins.file)
    pins = PinBook.load(pins_file)
    check_file_mode(pins_file)
    refuse_unsafe(pins, cfg)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    tune_gc()
    tune_latency()
    from qcall.history import DayCloser, qos1

    runner = CoreRunner(cfg, cfg.storage.journal, cfg.bus.host, cfg.bus.port, pins=pins,
                        ca_file=cfg.bus.ca_file if cfg.bus.tls else "",
                        username="core" if password else "", password=password)
    # Each reset archives the day closed (and, with [hq], sends it to head office on the core's bus).
    runner.service.on_day_closed = DayCloser(cfg, runner.store, publish=qos1(runner.bus))
    with runner:
        try:
            while not done.wait(1.0):
                if runner.failed is not None:
                    raise runner.failed
        except KeyboardInterrupt:
            pass
    return 0


def _bridge(args: argparse.Namespace) -> int:
    import signal
    import threading

    from qbus.config import load
    from qcall.bridge import run_bridge
    from qserver.tuning import tune_gc, tune_latency

    tune_latency()  # serial, bus and worker threads take turns on every key (as bench/keypad.py runs)
    tune_gc()  # a full collection stalled every thread of the line for 10-13 ms in bench/keypad.py
    cfg = load(args.config)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        run_bridge(cfg, args.line, stop, serial_port=args.serial, counter=args.counter, host=args.host or None,
                   port=args.port)
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
    from qbus.provision import broker_gid, provision

    done = provision(load(args.config), args.out, rotate=args.rotate)
    print(f"wrote {done.conf}, {done.passwd}, {done.acl} and {len(done.credentials)} device credentials "
          f"in {done.out_dir}/credentials ({len(done.created)} new)")
    if done.ca is not None:
        print(f"TLS: branch CA {done.ca} (copy it to every machine as [bus] ca_file), broker certificate "
              f"for {done.settings.host}")
    if broker_gid() is None:
        print(f"warning: not run as root (or no mosquitto group): {done.passwd.name}, {done.acl.name} and the "
              f"TLS key are readable by you only; mosquitto reads them as its own user", file=sys.stderr)
    return 0


def _display(args: argparse.Namespace) -> int:
    import logging

    from qbus.config import load
    from qcall.display import run

    if args.png_every <= 0:
        raise UsageError("--png-every must be positive")
    if args.png_dir and not args.headless:
        logging.getLogger(__name__).info("snapshots of the live screen go to %s", args.png_dir)
    run(load(args.config), headless=args.headless, png_dir=args.png_dir, png_every_s=args.png_every,
        host=args.host, port=args.port, silent=args.silent)
    return 0


def _voice_build(args: argparse.Namespace) -> int:
    from qbus.config import load
    from qcall.display import voice_build

    cfg = load(args.config)
    made = voice_build(cfg, force=args.force)
    print(f"{len(made)} voice clips written to {cfg.voice.clips_dir}")
    return 0


def _voice_say(args: argparse.Namespace) -> int:
    from qbus.config import load
    from qcall.display import voice_say

    if args.counter < 0 or args.recall < 0:
        raise UsageError("--counter and --recall must not be negative")
    if not voice_say(load(args.config), args.number, args.counter, recall=args.recall):
        print("voice calling is off in this config ([voice] enabled = false)")
    return 0


def _read_pin(prompt: str) -> str:
    """A PIN from the terminal without echo; from a stdin line when stdin is not a terminal
    (scripted set-up). Never from the command line, where `ps` and shell history would keep it."""
    import getpass

    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    line = sys.stdin.readline()
    if not line:
        raise UsageError("no PIN given on stdin")
    return line.rstrip("\r\n")


def _pin_set(args: argparse.Namespace) -> int:
    from pathlib import Path

    from qbus.config import load
    from qserver.pins import PinBook, weak_reason

    cfg = load(args.config)
    teller = next((t for t in cfg.teller if t.id == args.teller), None)
    if teller is None:
        raise UsageError(f"teller {args.teller!r} is not in {args.config} (add a [[teller]] first)")
    path = Path(args.file or cfg.pins.file)
    book = PinBook.load(path) if path.exists() else PinBook(path=path)
    if book.example:
        raise UsageError(f"{path} holds the demo's example PINs; start a new file with --file")
    pin = _read_pin(f"New PIN for {teller.id} ({teller.name}): ")
    why = weak_reason(teller.id, pin)
    if why:  # said before asking again; book.set() applies the same rules
        raise UsageError(f"PIN refused: {why}")
    if _read_pin("Same PIN again: ") != pin:
        raise UsageError("the two PINs differ; nothing changed")
    book.set(teller.id, pin)
    book.save(path)
    print(f"teller {teller.id} ({teller.name}): PIN set in {path} (argon2id, mode 0600)")
    return 0


def _pin_unlock(args: argparse.Namespace) -> int:
    from qbus import messages as m
    from qbus.config import load

    bus = _device_client(args, load(args.config), "manager1")
    try:
        bus.connect(10)
        reply = bus.request(m.UnlockPin(teller=args.teller))
    finally:
        bus.close()
    if not reply.ok:
        err = reply.error
        raise UsageError(f"unlock {args.teller}: {err.en if err else 'refused'}")
    print(f"teller {args.teller}: PIN lockout lifted")
    return 0


def _hash_key(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kiosk.recognition import make_key
    from qbus.config import load

    path = Path(args.out or load(args.config).privacy.hash_key_file)
    if not make_key(path):
        raise UsageError(f"{path} exists; a hash key is never replaced (copy it, or remove it yourself)")
    print(f"{path}: new hash key (mode 0600); copy this same file to every kiosk")
    return 0


def _kiosk(args: argparse.Namespace) -> int:

    from pathlib import Path

    from qbus.config import load
    from qcall.kiosk import run_kiosk

    if args.seconds < 0 or args.port < 0:
        raise UsageError("--seconds and --port must not be negative")
    def read_line(prompt: str) -> str | None:
        try:
            return input(prompt)
        except (EOFError, OSError):  # no terminal (a service, a test runner): no console
            return None

    cfg = load(args.config)
    return run_kiosk(cfg, twin=args.twin, screen=False if args.no_screen else None,
                     host=args.host or None, port=args.port or None, seconds=args.seconds,
                     read_line=read_line if args.twin else None, out=lambda s: print(s, flush=True),
                     link_key_file=Path(args.config).resolve().parent / cfg.web.ticket_key_file)


def _roster_build(args: argparse.Namespace) -> int:
    from kiosk.recognition import build_roster, load_key
    from qbus.config import load

    cfg = load(args.config)
    key_file = args.key_file or cfg.privacy.hash_key_file
    n = build_roster(args.csv, args.out, load_key(key_file), tiers={t.code for t in cfg.tier})
    print(f"{args.out}: {n} customers (keyed hashes only, key {key_file})")
    return 0


def _journal(args: argparse.Namespace) -> int:
    from pathlib import Path

    from qbus.config import load
    from qserver.errors import JournalCorrupt, JournalError
    from qserver.journal import Journal
    from qserver.salvage import repair

    path = Path(args.journal or load(args.config).storage.journal)
    if not path.exists():
        raise JournalError(f"{path}: no such journal file")
    try:
        j = Journal(path)
        try:
            n = j.verify()
        finally:
            j.close()
    except JournalCorrupt:
        if args.action == "check":
            raise
        print(repair(path).text())
        return 0
    print(f"{path}: OK, {n} rows" + (" (nothing to repair)" if args.action == "repair" else ""))
    return 0


def _check_config(args: argparse.Namespace) -> int:
    from pathlib import Path

    from qbus.config import load
    from qcall.web import beside
    from web.users import load_users

    cfg = load(args.config)
    note = ""
    if cfg.web.enabled:  # the web service would refuse a broken users file: so does the check
        users = beside(Path(args.config), cfg.web.users_file)
        note = f", {len(load_users(users))} web users" if users.exists() else \
            f" (no web users yet: `qcall user add` writes {users})"
    print(f"{args.config}: OK — {cfg.branch.name_zh} / {cfg.branch.name_en}, "
          f"{len(cfg.business)} business types, {len(cfg.counter)} counters{note}")
    return 0


_SERVICES = {"serve", "bridge", "display", "kiosk", "web"}


def _logging(command: str) -> None:
    """Set up logging once, before any command imports its libraries: python-escpos calls
    logging.basicConfig() when imported, which would otherwise fix the format. Long-running
    services log INFO with times (journald keeps them); the other commands only warnings.
    Under a test runner the root logger already has handlers and this does nothing."""
    import logging

    if command in _SERVICES:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    else:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _logging(args.command)
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
