"""The web service's configuration and its people: `[web]` refused with the key named, and the
users file (argon2id hashes, one login per person) written by `qcall user add`."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from qbus.config import ConfigError, loads
from tests.web_helpers import without_web
from web.errors import UsersFileError
from web.users import add_user, load_users, verify

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = without_web((ROOT / "examples" / "branch.toml").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("web", "named"), [
    ("port = 0", "web.port: 0 must be 1..65535"),
    ('base_url = "ftp://bank"', "web.base_url: 'ftp://bank' must start with http:// or https://"),
    ('base_url = "https://q.bank.cn/"', "web.base_url: no trailing '/'"),
    ("session_minutes = 0", "web.session_minutes: must be > 0"),
    ('device = "manager1"', "web.device: 'manager1' must start with 'web'"),
    ('lobby_device = "web1"', "web.lobby_device: must differ from web.device"),
    ("colour = 'blue'", "unknown field `colour`"),
])
def test_a_bad_web_section_is_refused_naming_the_key(web: str, named: str) -> None:
    with pytest.raises(ConfigError, match="web") as err:
        loads(EXAMPLE + f"\n[web]\n{web}\n")
    assert named in str(err.value)


def test_the_users_file_holds_argon2_hashes_only_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    add_user(path, "zhou.min", "周敏", "manager", "correct horse 1")
    add_user(path, "zhao", "赵敏", "lobby", "lobby-pass-9")
    text = path.read_text(encoding="utf-8")
    assert "correct horse" not in text and text.count("$argon2id$") == 2
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    users = load_users(path)
    assert verify(users, "zhou.min", "correct horse 1") == users["zhou.min"]
    assert verify(users, "zhou.min", "correct horse 2") is None
    assert verify(users, "nobody", "correct horse 1") is None
    add_user(path, "zhao", "赵敏", "manager", "new-pass-123")  # promoted, new password
    users = load_users(path)
    assert users["zhao"].role == "manager" and verify(users, "zhao", "lobby-pass-9") is None


@pytest.mark.parametrize(("login", "role", "password", "why"), [
    ("Zhou", "manager", "long-enough-1", "lower-case"),
    ("z", "manager", "long-enough-1", "2-32"),
    ("zhou", "admin", "long-enough-1", "manager or lobby"),
    ("zhou", "manager", "short", "at least 8"),
])
def test_a_weak_or_wrong_user_is_refused(tmp_path: Path, login: str, role: str, password: str, why: str) -> None:
    with pytest.raises(UsersFileError, match=why):
        add_user(tmp_path / "users.toml", login, "名字", role, password)


def test_a_broken_users_file_is_refused_by_check_config_naming_the_entry(tmp_path: Path) -> None:
    config = tmp_path / "branch.toml"
    config.write_text(EXAMPLE, encoding="utf-8")
    (tmp_path / "users.toml").write_text('[[user]]\nlogin = "zhou"\nname = "周"\nrole = "manager"\nhash = "plain"\n',
                                         encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "qcall.cli", "check-config", "--config", str(config)],
                         capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert run.returncode == 2 and "user[0].hash: not an argon2 hash" in run.stderr


def test_qcall_user_add_reads_the_password_without_echo_or_from_stdin(tmp_path: Path) -> None:
    config = tmp_path / "branch.toml"
    config.write_text(EXAMPLE, encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "qcall.cli", "user", "add", "qian", "--name", "钱进", "--role",
                          "lobby", "--config", str(config), "--password-stdin"], input="s3cret-pass\n",
                         capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert run.returncode == 0, run.stderr
    assert "qian (钱进, lobby) saved" in run.stdout and "s3cret" not in run.stdout
    assert verify(load_users(tmp_path / "users.toml"), "qian", "s3cret-pass") is not None
    listed = subprocess.run([sys.executable, "-m", "qcall.cli", "check-config", "--config", str(config)],
                            capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert "1 web users" in listed.stdout
