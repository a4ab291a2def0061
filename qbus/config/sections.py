"""Per-component config sections.

Each device kind owns one struct here so that adding a key to the kiosk does not touch the core's
rules. Every key has a type and a default where one makes sense; unknown keys are errors so a typo
never silently falls back to a default.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec


class Base(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Common options for every config struct."""


class BusSection(Base, kw_only=True):
    """Where the MQTT broker is. No host means: start the embedded broker (demo only)."""

    host: str = ""
    port: int = 1883
    prefix: str = "qcall"
    # The broker's max_packet_size (`qcall provision` writes it into mosquitto.conf): no client
    # publishes a packet larger than this, since the broker would drop the connection for it.
    max_packet_size: int = 65536
    username: str = ""
    password_file: str = ""
    keepalive_s: int = 15
    command_timeout_s: float = 3.0
    # Reconnect backoff: from reconnect_min_s, doubling, capped at reconnect_max_s. The broker is on
    # the branch LAN (the core's on the same Pi): a short cap brings every device back within about
    # a second of the broker, well inside the kiosk's and keypad's command timeout.
    reconnect_min_s: float = 0.1
    reconnect_max_s: float = 1.0
    # TLS to the broker (`qcall provision` makes the branch CA and the broker's certificate):
    # clients check the broker's certificate against ca_file and its name against `host`.
    tls: bool = False
    ca_file: str = ""


class PinsSection(Base, kw_only=True):
    """Teller PINs. The argon2id hashes live in `file` (written by `qcall pin set`, mode 0600), on
    the branch server only: `qcall serve` is its only reader, so the branch TOML that sits on every
    Pi holds no PIN material. Wrong PINs lock a teller id out after `max_failures`, and a device
    that tries several ids after `device_max_failures`, for `lockout_minutes` (each further lockout
    in a row twice as long, at most a day), or until a manager's `qcall pin unlock`."""

    file: str = "var/pins.toml"
    max_failures: int = 5
    device_max_failures: int = 10
    lockout_minutes: float = 15.0


class HqSection(Base, kw_only=True):
    """The branch's link to head office: Mosquitto's own bridge (written by `qcall provision`).

    No host: the branch is not bridged. `password_file` holds this branch's head-office password
    (made by `qcall hq provision`); `cafile` is head office's CA (TLS; empty only on loopback).
    The bridge's queue while the link is down is bounded by `queue_max_messages` and
    `queue_max_bytes`: when it is full the newest messages for head office are dropped (the
    branch itself is unaffected) and the day archive sent at close restores head office's history.
    """

    host: str = ""
    port: int = 8883
    prefix: str = "qcall"
    password_file: str = ""
    cafile: str = ""
    queue_max_messages: int = 200_000
    queue_max_bytes: int = 256 * 1024 * 1024
    reconnect_min_s: int = 2
    reconnect_max_s: int = 60


class LimitsSection(Base, kw_only=True):
    """What one device, or all of them together, may ask of the core (see docs/mqtt.md).

    Each device (the last level of its `cmd/<device>` topic) has a token bucket: `device_burst`
    requests at once, refilled at `device_rate_per_s`. A request past it is answered at once with
    a `rate_limited` error and not applied. A kiosk issues a ticket every few seconds at most and a
    keypad sends a key a second, so the defaults never touch a real device.
    `inbox_max`: requests waiting for the core; past it a request is answered `rate_limited` on
    arrival (the core is overloaded). `outbox_max`: messages the broker has not acknowledged yet;
    past it the core stops taking requests until the broker catches up (it never drops one).
    """

    device_rate_per_s: float = 10.0
    device_burst: int = 30
    inbox_max: int = 5000
    outbox_max: int = 20000


class StorageSection(Base, kw_only=True):
    """Where the core keeps its journal (SQLite, WAL) and how often it snapshots."""

    journal: str = "var/journal.db"
    snapshot_every: int = 5000
    group_commit_max: int = 1000


class ClockSection(Base, kw_only=True):
    """How the core trusts its machine's clock before opening a day (docs/architecture.md, Time).

    `confirm = "sync"`: wait until the system clock is synchronised (NTP: systemd-timesyncd's
    flag or the kernel's status) or a manager confirms it over the bus; right for a Raspberry Pi,
    which has no real-time clock. `"rtc"`: the machine has a battery-backed clock, trust it at once.
    `max_step_s`: differences from the wall clock up to this are ignored (drift, not a step).
    """

    confirm: Literal["sync", "rtc"] = "sync"
    max_step_s: float = 120.0


class PrivacySection(Base, kw_only=True):
    """Customer recognition by keyed hash. The key file is never logged or sent anywhere."""

    hash_key_file: str = "var/hash.key"
    roster_file: str = ""
    priority_age: int = 70


PrinterKind = Literal["usb", "serial", "network", "file", "twin"]
StatusQuery = Literal["dle_eot", "gs_r", "none"]
SerialCodec = Literal["qframe", "dlt645"]  # firmware_bridge/codec.py's built-in codecs
PadKind = Literal["keypad", "rating"]


class PrinterSection(Base, kw_only=True):
    """Ticket printer: kind is usb | serial | network | file | twin."""

    kind: PrinterKind = "twin"
    usb_vendor: int = 0
    usb_product: int = 0
    serial_port: str = ""
    baudrate: int = 9600
    host: str = ""
    port: int = 9100
    path: str = ""
    width_chars: int = 48
    # How to read paper / online status: dle_eot (real-time, most printers) | gs_r | none (one-way link).
    status_query: StatusQuery = "dle_eot"
    status_timeout_s: float = 0.3


class KioskSection(Base, kw_only=True):
    """Ticket kiosk behaviour."""

    id: str = "kiosk1"
    screen: bool = True
    fullscreen: bool = False
    resolution: tuple[int, int] = (1280, 800)
    repeat_guard_s: float = 3.0
    issue_timeout_s: float = 3.0
    gpio_buttons: dict[str, int] = {}
    staff_pins: dict[str, str] = {}
    # LEDs by name -> BCM pin: "ready" (lit while a ticket can be taken), "fault" (printer / core trouble).
    gpio_leds: dict[str, int] = {}
    # Lobby staff cards: keyed hash of the card number -> teller id (lobby or manager role).
    staff_cards: dict[str, str] = {}
    # Identity readers (empty = not fitted). magcard_evdev is an input device path (/dev/input/by-id/...).
    idcard_port: str = ""
    magcard_port: str = ""
    magcard_evdev: str = ""
    passbook_port: str = ""
    # Identified customer is remembered this long while they choose a business.
    identity_hold_s: float = 30.0
    # Tickets only within [hours]: from `open` to `close` minus last_ticket_min, on its weekdays.
    # Outside them the screen gives the opening hours and nothing is issued (a kiosk left on at
    # night must not hand out numbers nobody will call).
    hours_only: bool = True
    last_ticket_min: int = 0
    # The home screen's "预约取号 / I have an appointment" button (typing the booking code). Off for a
    # branch that takes no bookings, so its customers see no button that can only say "not found".
    appointments: bool = True


class DisplaySection(Base, kw_only=True):
    """Hall display: layout is landscape-1080 | landscape-720 | portrait-1080."""

    layout: Literal["landscape-1080", "landscape-720", "portrait-1080"] = "landscape-1080"
    fullscreen: bool = True
    font: str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
    font_index: int = 0
    highlight_s: float = 6.0
    recent_calls: int = 8
    notice_zh: str = ""
    notice_en: str = ""
    fps: int = 60
    # Degrees the picture is turned (counter-clockwise) for a TV mounted on its side; a portrait
    # layout on a landscape screen (or the reverse) is turned 90 even when this is 0.
    rotate: Literal[0, 90, 270] = 0
    # Every text on the hall screen is sized for the farthest seat that must read it: a Han
    # character (the font's em) at least viewing_distance_m / 200 tall (25 mm at 5 m), worked out
    # in pixels from the screen's diagonal (display.layout.min_text_px).
    viewing_distance_m: Annotated[float, msgspec.Meta(gt=0, le=100)] = 5.0
    diagonal_in: Annotated[float, msgspec.Meta(gt=5, le=400)] = 55.0


class VoiceSection(Base, kw_only=True):
    """Offline voice calling: clip folder (a branch's own recordings win over generated ones)."""

    enabled: bool = True
    repeat: int = 2
    clips_dir: str = "var/clips"
    custom_clips_dir: str = ""
    english: bool = True
    max_pending: int = 4  # calls waiting to be said; past this the oldest are dropped (still on screen)


class SerialDevice(Base, kw_only=True):
    """One keypad or rating pad on a serial line."""

    address: int
    counter: int
    kind: PadKind = "keypad"


class SerialLine(Base, kw_only=True):
    """One serial line: RS-232 (one counter) or RS-485 multi-drop (many devices).

    rs485_mode: "auto" = the adapter switches direction itself (most USB RS-485 adapters);
    "pyserial" = ask the kernel driver to drive RTS (pyserial `rs485_mode`), falling back to "auto"
    with a warning where the driver cannot. ack_timeout_s = 0 derives it from the baud rate.
    """

    port: str
    baudrate: int = 9600
    codec: SerialCodec = "qframe"
    rs485: bool = False
    rs485_mode: Literal["auto", "pyserial"] = "auto"
    heartbeat_timeout_s: float = 10.0
    ack_timeout_s: float = 0.0
    retries: int = 3
    devices: list[SerialDevice] = []


class TargetsSection(Base, kw_only=True):
    """[targets]: what the branch's figures are measured against; every breach is flagged in the
    reports. Shares are 0..1. Wait targets default to each tier's `max_wait_minutes`; service-time
    targets to each business's `service_minutes`."""

    satisfaction: float = 0.85
    star_teller_share: float = 0.80
    service_level: float = 0.80
    unrated_max: float = 0.30
    abandoned_max: float = 0.05
    tier_wait_minutes: dict[str, float] = {}
    business_wait_minutes: dict[str, float] = {}
    service_minutes: dict[str, float] = {}
    # Star teller (星级柜员) rule: a teller with at least star_min_rated ratings in the period gets
    # one star per threshold of satisfaction met (star_grades, ascending); grade >= star_grade_min
    # makes a star teller.
    star_min_rated: int = 10
    star_grades: list[float] = msgspec.field(default_factory=lambda: [0.80, 0.85, 0.90, 0.95, 0.98])
    star_grade_min: int = 3
    # Transfers to these business types (or to a counter serving one) count as referrals.
    referral_businesses: list[str] = []
    # Live advice (qserver.advisor): satisfaction over the last N ratings; repeat interval.
    advice_ratings: int = 20
    advice_every_minutes: float = 10.0


class HistorySection(Base, kw_only=True):
    """[history]: where closed days are archived. `store` is a SQLite file (default: history.db
    beside the journal) or a postgresql:// DSN. `keep_customer_hash` keeps the kiosk's keyed
    customer hash in the store for repeat-visit counts (never exported). `keep_days_in_journal`:
    archived days older than this are compacted out of the journal after a snapshot (0: never)."""

    store: str = ""
    keep_customer_hash: bool = False
    keep_days_in_journal: int = 7


class ComplaintsSection(Base, kw_only=True):
    """[complaints]: deadlines from the moment a complaint is opened."""

    contact_hours: float = 24.0
    reply_days: float = 3.0
    close_days: float = 30.0


class WebSection(Base, kw_only=True):
    """The branch web service (the manager's and the lobby's pages): where it listens and its secrets.

    Plain HTTP on the branch LAN behind a TLS reverse proxy (docs/operations.md): bind to 127.0.0.1
    when the proxy runs on the same machine. `base_url` is what people (and the printed QR) use.
    Relative files are found next to the config file."""

    enabled: bool = True
    bind: str = "127.0.0.1"
    port: int = 8080
    base_url: str = ""
    session_secret_file: str = "web-secret.key"
    users_file: str = "users.toml"
    session_minutes: float = 480.0  # a shift; the login page comes back after it
    login_attempts: int = 5  # failed logins per user and per address ...
    login_window_s: float = 300.0  # ... within this window, then refused until it passes
    device: str = "web1"  # bus identity for reading and the manager's commands
    lobby_device: str = "web_lobby1"  # bus identity for the lobby's commands (the ACL holds it to them)
    # The customer's phone page (/t/<token>, from the ticket's QR). The link key is shared with the
    # kiosk (qbus.ticket_link); relative to the config file like the other [web] files.
    ticket_key_file: str = "ticket-link.key"
    phone_near: int = 3  # at this many people ahead the page says 请准备 / your turn is near
    # The remote ticket from a QR poster at the branch door (docs/web.md "Remote ticket"). Off by
    # default: the poster page shows a code that changes every poster_minutes (the one before is
    # still accepted), so a photo of it is useless from home; one ticket per phone per day, at most
    # poster_window_max per code and poster_day_max a day. Walk-in tiers only, under its own bus
    # identity (poster_device, role web_poster: issue only).
    poster: bool = False
    poster_device: str = "web_poster1"
    poster_minutes: float = 5.0
    poster_window_max: int = 20
    poster_day_max: int = 300
