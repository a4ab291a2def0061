"""The link between a branch and head office, built on Mosquitto's own bridge (no home-made relay).

Both ends are written from this one module so they cannot drift apart:

- the branch side: `bridge_section()` is the `connection` block `qcall provision` appends to the
  branch broker's mosquitto.conf. What the branch publishes on `event/#`, `alert/#`, `state/#`,
  `archive/#` goes out to head office under the branch's own tree `<hq prefix>/v1/<branch>/...`;
  only head office's pushes (`notice`, `offer/#`) come in. QoS 1, `cleansession false`: while the
  link is down the branch broker queues what head office has not acknowledged (persisted with the
  broker's persistence file), bounded by `[hq] queue_max_messages` / `queue_max_bytes`; when the
  bound is reached Mosquitto drops the newest messages *for head office only* (the branch's own
  devices are other clients with their own queues) and logs it; head office then gets the day
  from the archive published at the day's close. The bridge reports itself on `link` (retained
  `1`, with `0` as its Last Will on head office's broker).
- the head-office side: `provision_central()` writes the central broker's mosquitto.conf, password
  file and ACL: each branch's user (`branch-<id>`) may write only its own tree's outgoing topics
  and read only its own pushes, so one branch can read or write nothing of another's; the ingest
  users read every branch; the push user writes only notices and offers.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from qbus.broker import MosquittoConf
from qbus.config import BranchConfig
from qbus.errors import ConfigError
from qbus.provision import Grant, _existing_password, _write_private, render_acl, write_credentials
from qbus.topics import Topics

# Relative to a branch's tree: what goes out to head office, and what head office may push in.
# Every retained state but `state/waiting` (the branch's whole waiting list, up to the broker's packet
# limit, after every change: for the branch's own web service, never worth head office's link or its
# queue while the link is down).
OUTGOING = ("event/#", "alert/#", "state/queues", "state/counter/+", "state/hall", "state/stats", "state/acks",
            "state/bookings", "archive/#")
INCOMING = ("notice", "offer/#")
LINK = "link"  # the bridge's own retained up/down notification

HQ_QUEUE_MESSAGES = 2_000_000  # central: an ingest worker's backlog (about an hour of a big bank)
HQ_QUEUE_BYTES = 1024 * 1024 * 1024
HQ_INFLIGHT = 20_000  # central: unacknowledged messages per client; the ingest acks after each commit


def branch_user(branch: str) -> str:
    """The MQTT user (and client id) of a branch's bridge on the central broker."""
    Topics("qcall", branch)  # validates the id as one topic level
    return f"branch-{branch}"


def ingest_user(worker: int) -> str:
    return f"hq-ingest{worker}"


PUSH_USER = "hq-push"


# ---------------------------------------------------------------------------------- branch side


def bridge_section(cfg: BranchConfig, password: str) -> str:
    """The branch broker's `connection` block for the head-office bridge (must end the file)."""
    hq = cfg.hq
    if not hq.host:
        raise ConfigError("hq.host: the branch has no head office to bridge to")
    local = Topics(cfg.bus.prefix, cfg.branch.id).base + "/"
    remote = Topics(hq.prefix, cfg.branch.id).base + "/"
    user = branch_user(cfg.branch.id)
    lines = [
        "# Head office: Mosquitto's bridge (qbus.hqlink). Everything below belongs to it.",
        f"connection hq-{cfg.branch.id}",
        f"address {hq.host}:{hq.port}",
        "bridge_protocol_version mqttv311",
        f"remote_clientid {user}",
        f"remote_username {user}",
        f"remote_password {password}",
        f"local_clientid hqlink-{cfg.branch.id}",
        # Sessions survive a dropped link on both ends: queued messages wait, nothing is re-sent
        # from scratch (head office de-duplicates by (branch, seq, n) anyway).
        "cleansession false",
        "start_type automatic",
        f"restart_timeout {hq.reconnect_min_s} {hq.reconnect_max_s}",
        "keepalive_interval 30",
        "try_private true",
        "notifications true",
        f"notification_topic {remote}{LINK}",
    ]
    if hq.cafile:
        lines += [f"bridge_cafile {hq.cafile}", "bridge_insecure false", "bridge_tls_version tlsv1.2"]
    lines += [f"topic {pattern} out 1 {local} {remote}" for pattern in OUTGOING]
    lines += [f"topic {pattern} in 1 {local} {remote}" for pattern in INCOMING]
    return "\n".join(lines) + "\n"


def bridged_settings(cfg: BranchConfig, settings: MosquittoConf, password: str) -> MosquittoConf:
    """The branch broker's settings with the bridge and its queue bound added."""
    return dataclasses.replace(
        settings, max_queued_messages=cfg.hq.queue_max_messages, max_queued_bytes=cfg.hq.queue_max_bytes,
        tail=bridge_section(cfg, password),
    )


def read_hq_password(cfg: BranchConfig) -> str:
    """The branch's head-office password from `[hq] password_file` (made by `qcall hq provision`)."""
    path = Path(cfg.hq.password_file.replace("{branch}", cfg.branch.id))
    password = _existing_password(path)
    if not password:
        raise ConfigError(f"hq.password_file: {path} is missing or empty "
                          f"(copy credentials/{branch_user(cfg.branch.id)}.password from head office)")
    return password


# ---------------------------------------------------------------------------------- head office


def branch_grant(prefix: str, branch: str) -> Grant:
    """What a branch's bridge may do on the central broker: its own tree, nothing else."""
    base = Topics(prefix, branch).base
    write = tuple(f"{base}/{p}" for p in (*OUTGOING, LINK))
    read = tuple(f"{base}/{p}" for p in INCOMING)
    return Grant(branch_user(branch), "branch", write, read)


def central_grants(prefix: str, branches: Iterable[str], workers: int) -> list[Grant]:
    every = f"{prefix}/v1/+"
    grants = [branch_grant(prefix, b) for b in branches]
    grants += [Grant(ingest_user(w), "ingest", (), (f"{prefix}/v1/#",)) for w in range(1, workers + 1)]
    grants.append(Grant(PUSH_USER, "push", tuple(f"{every}/{p}" for p in INCOMING),
                        tuple(f"{every}/{p}" for p in (LINK,))))
    return grants


@dataclass(frozen=True, slots=True)
class Central:
    """What `provision_central()` wrote."""

    out_dir: Path
    conf: Path
    acl: Path
    passwd: Path
    credentials: dict[str, Path]
    created: tuple[str, ...]
    settings: MosquittoConf

    def password(self, user: str) -> str:
        return self.credentials[user].read_text(encoding="utf-8").strip()


def provision_central(
    branches: Sequence[str],
    out_dir: str | Path,
    *,
    prefix: str = "qcall",
    workers: int = 1,
    rotate: bool = False,
    local_port: int = 1883,
    tls_port: int = 8883,
    tls_host: str = "0.0.0.0",
    certfile: str = "",
    keyfile: str = "",
    persistence_dir: str = "/var/lib/mosquitto/",
    log_dest: str = "syslog",
) -> Central:
    """The central broker: a loopback listener for head office's own ingest and push, and (with
    `certfile` / `keyfile`) a TLS listener the branches' bridges connect to."""
    if len(set(branches)) != len(branches) or not branches:
        raise ConfigError("head office: give each branch id once (at least one)")
    if bool(certfile) != bool(keyfile):
        raise ConfigError("head office: TLS needs both the certificate and its key")
    out = Path(out_dir).resolve()
    creds = out / "credentials"
    creds.mkdir(parents=True, exist_ok=True)
    os.chmod(creds, 0o700)
    grants = central_grants(prefix, branches, workers)
    credentials, created, hashes = write_credentials(creds, (g.device for g in grants), rotate)
    header = (f"qcall head-office broker for {len(branches)} branches.\n"
              "Generated by `qcall hq provision`: change the head-office config and re-run.")
    passwd, acl, conf = out / "passwd", out / "acl", out / "mosquitto.conf"
    _write_private(passwd, "\n".join(hashes) + "\n")
    _write_private(acl, render_acl(grants, header))
    # The client id is the user name: a branch's credentials cannot take over the ingest's session
    # (and so its queue) by connecting with the ingest's client id.
    tail = "use_username_as_clientid true\n"
    if certfile:
        tail += "\n".join([
            "# The branches' bridges: TLS only.",
            f"listener {tls_port} {tls_host}", "protocol mqtt",
            f"certfile {certfile}", f"keyfile {keyfile}", "tls_version tlsv1.2",
        ]) + "\n"
    settings = MosquittoConf(
        host="127.0.0.1", port=local_port, persistence_dir=persistence_dir, password_file=str(passwd),
        acl_file=str(acl), log_dest=log_dest, max_queued_messages=HQ_QUEUE_MESSAGES,
        max_queued_bytes=HQ_QUEUE_BYTES, max_inflight_messages=HQ_INFLIGHT, tail=tail,
    )
    _write_private(conf, settings.render(header))
    return Central(out, conf, acl, passwd, credentials, tuple(created), settings)
