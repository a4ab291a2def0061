"""The web service on a real branch for tests: a config file next to its users file, people with
their own logins, the web service as the real `qcall web` process (or in a thread when a test
injects the clock), and small helpers for forms and event streams."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from qbus.broker import free_port
from qbus.config import BranchConfig, SerialLine
from web.users import add_user

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "branch.toml"
PEOPLE = {  # login: (name, role, password)
    "zhou": ("周行长", "manager", "manager-pass-1"),
    "zhao": ("赵敏", "lobby", "lobby-pass-1"),
    "qian": ("钱进", "lobby", "lobby-pass-2"),
}


def serial_toml(lines: list[SerialLine]) -> str:
    """[[serial]] tables for a config file (the rig's pty lines)."""
    out = []
    for line in lines:
        devices = ", ".join(f'{{ address = {d.address}, counter = {d.counter}, kind = "{d.kind}" }}'
                            for d in line.devices)
        out.append(f'\n[[serial]]\nport = "{line.port}"\nbaudrate = {line.baudrate}\ndevices = [{devices}]\n')
    return "".join(out)


def without_web(toml: str) -> str:
    """The example branch's text without its [web] table (the last one), so a test can add its own."""
    return toml.split("\n[web]\n")[0]


def write_branch(folder: Path, cfg: BranchConfig | None = None, web_port: int = 0) -> Path:
    """The example branch as a file in `folder` (with the cfg's serial lines and a [web] port),
    and a users file beside it with PEOPLE."""
    folder.mkdir(parents=True, exist_ok=True)
    text = without_web(EXAMPLE.read_text(encoding="utf-8"))
    text = text.replace('\nstore = ""', f'\nstore = "{folder / "history.db"}"', 1)  # [history]: the test's own
    if cfg is not None:
        text += serial_toml(list(cfg.serial))
    text += f'\n[web]\nport = {web_port or free_port()}\nbase_url = "http://127.0.0.1"\n'
    path = folder / "branch.toml"
    path.write_text(text, encoding="utf-8")
    for login, (name, role, password) in PEOPLE.items():
        add_user(folder / "users.toml", login, name, role, password)
    return path


@contextmanager
def web_process(config: Path, host: str, port: int) -> Iterator[str]:
    """`qcall web --config F` as its own process on a free port; yields its base URL."""
    listen = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "qcall.cli", "web", "--config", str(config), "--host", host, "--port", str(port),
         "--listen-port", str(listen)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{listen}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise RuntimeError(f"qcall web did not come up: {out}")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def signed_in(url: str, login: str) -> httpx.Client:
    """An HTTP client signed in as one of PEOPLE (raises if the sign-in is refused)."""
    c = httpx.Client(base_url=url, timeout=10)
    r = c.post("/login", data={"login": login, "password": PEOPLE[login][2], "next": "/"})
    assert r.status_code == 303 and r.headers["location"] == "/", r.text
    return c


CSRF = re.compile(r'<meta name="csrf" content="([^"]*)">')
RESULT = re.compile(r'id="result">(.*?)</div>', re.S)


def csrf_of(c: httpx.Client) -> str:
    match = CSRF.search(c.get("/lobby").text)
    assert match and match.group(1)
    return match.group(1)


def result_of(html: str) -> str:
    match = RESULT.search(html)
    return re.sub(r"<[^>]+>", " ", match.group(1)).strip() if match else ""


def sign_in(driver: webdriver.Chrome, url: str, login: str) -> None:
    driver.delete_all_cookies()
    driver.get(url + "/login")
    driver.find_element(By.NAME, "login").send_keys(login)
    driver.find_element(By.NAME, "password").send_keys(PEOPLE[login][2])
    driver.find_element(By.CSS_SELECTOR, "form.login-card button").click()
    WebDriverWait(driver, 5).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".who"))


def live(driver: webdriver.Chrome) -> None:
    """Wait until the page's event stream is open (its link mark turns green)."""
    WebDriverWait(driver, 5).until(lambda d: "up" in (d.find_element(By.ID, "link").get_attribute("class") or ""))
