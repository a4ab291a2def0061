"""`qcall provision`: credentials, password file, ACL and mosquitto.conf for one branch.

Every device gets its own MQTT user (its device id) and a random password, written to
`credentials/<device>.password` (mode 0600) for that device's [bus] password_file. The broker gets
a password file in Mosquitto's own PBKDF2-SHA512 format (`$7$`, the format `mosquitto_passwd`
writes) and an ACL per role, built from the same topic functions the clients use:

- a kiosk may only publish its own commands (the core also refuses any op but issue / cancel);
- counter N may only publish on counter N's command topic;
- a serial bridge may publish for the counters wired to its line (and their pads' presence), and
  nothing else; it and the counters read `event/rated` (the pads say 谢谢 after a rating);
- ratings: only `cmd/pad<N>` carries them (qbus.roles). The bridge writes it for the counters whose
  rating pad is on its line; a rating tablet with its own `pad<N>` credential writes its own. A
  counter's credential cannot write any `cmd/pad<N>`;
- the display only reads; the manager reads state, events, alerts and presence, and sets notices;
- the web service has two identities: `web1` reads what the dashboard shows and sends the
  manager's commands; `web_lobby1` may only send on its own command topic, so a lobby person's
  request can never be published as the manager's (the core also refuses its manager-only ops);
  with `[web] poster` on, a third, `web_poster1`, may only send on its own command topic (issue);
- the core reads every command and writes everything.

Re-running keeps existing passwords (devices keep working) unless `rotate=True`.

The broker's files are meant for Debian's stock Mosquitto 2.0: `mosquitto.conf` is a drop-in for
`/etc/mosquitto/conf.d/` (it repeats nothing the main file sets), the client id is tied to the
user name (`use_username_as_clientid`), and what mosquitto reads after dropping to its own user
(passwd, acl, the TLS key) is mode 0640 group `mosquitto` when provision runs as root.

With `[bus] tls = true` provision also makes a branch CA (`ca.crt`, kept across runs; its key
`ca.key` never leaves the folder) and a server certificate for `[bus] host` signed by it, with the
`openssl` command line (Debian's `openssl` package; the `cryptography` wheel is not a dependency).
"""

from __future__ import annotations

import base64
import grp
import hashlib
import hmac
import ipaddress
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from qbus.broker import MosquittoConf
from qbus.config import BranchConfig
from qbus.errors import ConfigError
from qbus.roles import Role, role_of
from qbus.topics import Topics, check_device_id, counter_device, pad_device

MANAGER = "manager1"  # the MQTT user of `qcall watch / notice / requeue / cancel / pin unlock`
BROKER_GROUP = "mosquitto"  # Debian's mosquitto runs as user and group mosquitto
PBKDF2_ITERATIONS = 101  # what mosquitto_passwd 2.0 writes; the cost is per connect, not per message
_SALT_BYTES = 12


# ---------------------------------------------------------------------------------- passwords


def password_hash(password: str, *, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """Mosquitto's `$7$<iterations>$<salt b64>$<PBKDF2-SHA512 b64>` form of a password."""
    salt = secrets.token_bytes(_SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, 64)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """Check a password against a `$7$` hash (ours or mosquitto_passwd's)."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7" or not parts[2].isdigit():
        return False
    try:
        salt, want = base64.b64decode(parts[3]), base64.b64decode(parts[4])
    except ValueError:
        return False
    got = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, int(parts[2]), len(want))
    return hmac.compare_digest(got, want)


def new_password() -> str:
    return secrets.token_urlsafe(24)


# ---------------------------------------------------------------------------------- grants


@dataclass(frozen=True, slots=True)
class Grant:
    """What one MQTT user may publish (write) and subscribe to (read)."""

    device: str
    role: Role | str  # a branch device role, or a head-office user kind (qbus.hqlink)
    write: tuple[str, ...]
    read: tuple[str, ...]


def bridge_counters(cfg: BranchConfig, device: str = "") -> list[int]:
    """Counters whose keypads / rating pads hang on a serial line (the bridge speaks for them).
    With a bridge's id (`bridge2` = the second [[serial]] line): only that line's counters."""
    lines = list(cfg.serial)
    index = bridge_line(device)
    if 0 <= index < len(lines):
        lines = [lines[index]]
    return sorted({d.counter for line in lines for d in line.devices})


def bridge_pads(cfg: BranchConfig, device: str = "") -> list[int]:
    """Counters whose customer rating pad hangs on the bridge's line: it rates for them as `pad<N>`."""
    lines = list(cfg.serial)
    index = bridge_line(device)
    if 0 <= index < len(lines):
        lines = [lines[index]]
    return sorted({d.counter for line in lines for d in line.devices if d.kind == "rating"})


def bridge_device(index: int) -> str:
    """The device id of the bridge for the [[serial]] line at `index` (0-based): `bridge1`, ..."""
    return f"bridge{index + 1}"


def bridge_line(device: str) -> int:
    """The 0-based [[serial]] index a `bridge<k>` id serves; -1 for any other id."""
    k = device.removeprefix("bridge")
    return int(k) - 1 if k != device and k.isdigit() and int(k) >= 1 else -1


def devices_for(cfg: BranchConfig, extra: Iterable[str] = ()) -> list[str]:
    """Every device of the branch: core, manager, display1, the kiosk, each counter, the bridge."""
    devices = ["core", MANAGER, "display1", cfg.kiosk.id]
    devices += [counter_device(c.id) for c in cfg.counter]
    devices += [bridge_device(i) for i in range(len(cfg.serial))]
    if cfg.web.enabled:
        devices += [cfg.web.device, cfg.web.lobby_device]
    if cfg.web.enabled and cfg.web.poster:
        devices.append(cfg.web.poster_device)
    devices += list(extra)
    out = list(dict.fromkeys(devices))
    for d in out:
        try:
            check_device_id(d)
        except ValueError as err:
            raise ConfigError(str(err)) from err
        if role_of(d) == "unknown":
            raise ConfigError(f"device {d!r}: no role (names start with kiosk, counter<N>, display, "
                              "manager, bridge, web or core)")
    return out


def grant_for(topics: Topics, device: str, cfg: BranchConfig) -> Grant:
    """The ACL lines of one device, by its role."""
    role = role_of(device)
    t = topics
    own_write = (t.presence(device),)
    own_read = (t.reply(device), t.all_state())
    if role == "core":
        return Grant(device, role, (t.everything(),), (t.everything(),))
    if role == "kiosk":
        return Grant(device, role, (t.cmd(device), *own_write), (*own_read, t.notice()))
    if role == "counter":
        return Grant(device, role, (t.cmd(device), *own_write), (*own_read, t.event("rated")))
    if role == "bridge":
        counters = bridge_counters(cfg, device)
        pads = bridge_pads(cfg, device)
        return Grant(
            device, role,
            (t.cmd(device), *(t.cmd(counter_device(n)) for n in counters), *own_write,
             *(t.presence(pad_device(n)) for n in counters), *(t.cmd(pad_device(n)) for n in pads)),
            (*own_read, *(t.reply(counter_device(n)) for n in counters), t.event("rated"),
             *(t.reply(pad_device(n)) for n in pads)),
        )
    if role == "pad":  # a customer-facing rating device with its own credential
        return Grant(device, role, (t.cmd(device), *own_write), (*own_read, t.event("rated")))
    if role == "display":
        return Grant(device, role, own_write, (*own_read, t.all_events(), t.notice()))
    if role == "manager":
        return Grant(
            device, role, (t.cmd(device), t.notice(), *own_write),
            (*own_read, t.all_events(), t.all_alerts(), t.all_presence(), t.notice()),
        )
    if role == "web":
        return Grant(device, role, (t.cmd(device), *own_write),
                     (*own_read, t.all_events(), t.alert("advice"), t.all_presence(), t.notice()))
    if role in ("web_lobby", "web_poster"):
        return Grant(device, role, (t.cmd(device), *own_write), (t.reply(device),))
    raise ConfigError(f"device {device!r}: no role, no access")


def render_acl(grants: Iterable[Grant], header: str = "") -> str:
    """Mosquitto acl_file text: one `user` block per device, explicit topics, no patterns."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    for g in grants:
        lines += ["", f"# {g.device}: {g.role}", f"user {g.device}"]
        both = [topic for topic in g.write if topic in g.read]
        lines += [f"topic readwrite {topic}" for topic in both]
        lines += [f"topic write {topic}" for topic in g.write if topic not in both]
        lines += [f"topic read {topic}" for topic in g.read if topic not in both]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------- provision


@dataclass(frozen=True, slots=True)
class Provisioned:
    """What `provision()` wrote."""

    out_dir: Path
    conf: Path
    passwd: Path
    acl: Path
    credentials: dict[str, Path]
    created: tuple[str, ...]  # devices that got a new password this run
    settings: MosquittoConf
    ca: Path | None = None  # the branch CA certificate clients trust (with [bus] tls)

    def password(self, device: str) -> str:
        return self.credentials[device].read_text(encoding="utf-8").strip()


def provision(
    cfg: BranchConfig,
    out_dir: str | Path,
    *,
    extra_devices: Iterable[str] = (),
    rotate: bool = False,
    listen_host: str | None = None,
    listen_port: int | None = None,
) -> Provisioned:
    """Write credentials/, passwd, acl and mosquitto.conf (and with TLS the CA and the broker's
    certificate) for `cfg` into `out_dir`.

    The listener is the config's bus host (a LAN address) or loopback when it is empty.
    """
    out = Path(out_dir).resolve()
    creds_dir = out / "credentials"
    creds_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o750)  # mosquitto (group) may enter; others may not
    gid = broker_gid()
    if gid is not None:
        os.chown(out, 0, gid)
    os.chmod(creds_dir, 0o700)
    topics = Topics(cfg.bus.prefix, cfg.branch.id)
    devices = devices_for(cfg, extra_devices)
    credentials, created, hashes = write_credentials(creds_dir, devices, rotate)
    header = (f"qcall broker for branch {cfg.branch.id} ({cfg.branch.name_en}).\n"
              "Generated by `qcall provision` from the branch config: change the config and re-run.")
    passwd = out / "passwd"
    _write_private(passwd, "\n".join(hashes) + "\n", broker=True)
    acl = out / "acl"
    _write_private(acl, render_acl((grant_for(topics, d, cfg) for d in devices), header), broker=True)
    conf = out / "mosquitto.conf"
    host = listen_host or cfg.bus.host or "127.0.0.1"
    host = "127.0.0.1" if host == "localhost" else host
    tls = make_certificates(out, cfg.branch.id, host) if cfg.bus.tls else {}
    settings = MosquittoConf(
        host=host,
        port=listen_port or cfg.bus.port,
        password_file=str(passwd),
        acl_file=str(acl),
        conf_d=True,
        username_as_clientid=True,
        cafile=tls.get("cafile", ""),
        certfile=tls.get("certfile", ""),
        keyfile=tls.get("keyfile", ""),
        max_packet_size=cfg.bus.max_packet_size,
    )
    if cfg.hq.host:  # the head-office bridge ends the file (qbus.hqlink, which builds on this module)
        from qbus.hqlink import bridged_settings, read_hq_password

        settings = bridged_settings(cfg, settings, read_hq_password(cfg))
    _write_private(conf, settings.render(header), broker=True)
    ca = Path(tls["cafile"]) if tls else None
    return Provisioned(out, conf, passwd, acl, credentials, tuple(created), settings, ca)


# ---------------------------------------------------------------------------------- TLS

CA_DAYS = 3650
SERVER_DAYS = 825  # what clients accept for a server certificate; re-run provision before it ends


def write_credentials(creds_dir: Path, users: Iterable[str], rotate: bool
                      ) -> tuple[dict[str, Path], list[str], list[str]]:
    """Each user's password file in `creds_dir` (kept as it is unless `rotate`, so devices need
    no new credentials on a re-run): (user -> its file, the users given a new password, the
    broker's password-file lines)."""
    credentials: dict[str, Path] = {}
    created: list[str] = []
    hashes: list[str] = []
    for user in users:
        path = creds_dir / f"{user}.password"
        password = "" if rotate else _existing_password(path)
        if not password:
            password = new_password()
            _write_private(path, password + "\n")
            created.append(user)
        credentials[user] = path
        hashes.append(f"{user}:{password_hash(password)}")
    return credentials, created, hashes


def make_certificates(out: Path, branch: str, host: str) -> dict[str, str]:
    """The branch CA (made once, kept: every device trusts it) and a fresh server certificate for
    `host` (an IP address or a DNS name) and loopback, both P-256, signed by the CA."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ConfigError("bus.tls: the `openssl` command is needed to make certificates (apt-get install openssl)")
    ca_crt, ca_key = out / "ca.crt", out / "ca.key"
    if not (ca_crt.exists() and ca_key.exists()):
        _openssl(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", str(ca_key), "-out", str(ca_crt), "-days", str(CA_DAYS),
                 "-subj", f"/O=qcall/CN=qcall branch {branch} CA",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    os.chmod(ca_key, 0o600)
    os.chmod(ca_crt, 0o644)
    crt, key, csr, ext = out / "server.crt", out / "server.key", out / "server.csr", out / "server.ext"
    names = {host, "127.0.0.1", "localhost"}
    san = ",".join(sorted(f"IP:{n}" if _is_ip(n) else f"DNS:{n}" for n in names))
    ext.write_text(f"subjectAltName={san}\nbasicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n", encoding="utf-8")
    try:
        _openssl(openssl, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", f"/O=qcall/CN={host}")
        _openssl(openssl, "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
                 "-set_serial", str(int.from_bytes(secrets.token_bytes(15), "big")),
                 "-days", str(SERVER_DAYS), "-extfile", str(ext), "-out", str(crt))
    finally:
        csr.unlink(missing_ok=True)
        ext.unlink(missing_ok=True)
    os.chmod(crt, 0o644)
    _share_with_broker(key)
    return {"cafile": str(ca_crt), "certfile": str(crt), "keyfile": str(key)}


def _openssl(openssl: str, *args: str) -> None:
    done = subprocess.run([openssl, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ConfigError(f"openssl {args[0]} failed: {done.stderr.strip().splitlines()[-1:]}")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _existing_password(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""
    except OSError as err:
        raise ConfigError(f"{path}: cannot read credential: {err.strerror}") from err


def _write_private(path: Path, text: str, *, broker: bool = False) -> None:
    """Write a file only its owner can read, atomically (a half-written passwd locks everyone out).
    `broker`: mosquitto must read it too (group mosquitto, 0640)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        if broker:
            _share_with_broker(tmp)
        os.replace(tmp, path)
    except OSError as err:
        raise ConfigError(f"{path}: cannot write: {err.strerror}") from err


def broker_gid() -> int | None:
    """The mosquitto group's id when we may give files to it (running as root), else None."""
    if os.geteuid() != 0:
        return None
    try:
        return grp.getgrnam(BROKER_GROUP).gr_gid
    except KeyError:
        return None


def _share_with_broker(path: Path) -> None:
    """0640 root:mosquitto (Mosquitto 2.0 opens these after dropping to its own user); without
    root or that group, 0600 and `qcall provision` says what to run."""
    gid = broker_gid()
    if gid is None:
        os.chmod(path, 0o600)
        return
    os.chown(path, 0, gid)
    os.chmod(path, 0o640)
