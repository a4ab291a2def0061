"""The rigs other tests stand on: the throw-away PostgreSQL cluster really stores and returns rows,
and the headless Chromium really renders a page (CJK text included) to a screenshot."""

from __future__ import annotations

from pathlib import Path

import psycopg
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.browser import save_screenshot
from tests.pg_cluster import PgCluster


def test_postgres_cluster_stores_rows(postgres: PgCluster) -> None:
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS rig_check (n int, t text)")
        conn.execute("INSERT INTO rig_check VALUES (1, '张*'), (2, 'VIP')")
        rows = conn.execute("SELECT n, t FROM rig_check ORDER BY n").fetchall()
        conn.execute("DROP TABLE rig_check")
    assert rows == [(1, "张*"), (2, "VIP")]


def test_chromium_renders_a_local_page(chromium: webdriver.Chrome, tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    page.write_text('<html><meta charset="utf-8"><body><h1 id="h">请到 3号窗口</h1></body></html>',
                    encoding="utf-8")
    chromium.get(page.as_uri())
    h = chromium.find_element(By.ID, "h")
    assert h.text == "请到 3号窗口"
    assert h.size["height"] > 10
    shot = save_screenshot(chromium, "rig-check")
    assert shot.stat().st_size > 1000
