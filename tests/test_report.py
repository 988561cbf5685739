"""`deskbot report` on a generated decision log: one self-contained HTML file, checked in headless Chromium,
and the same report at /report for tokens with the `report` scope."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from bot.cli import main
from bot.config.file import (
    ApiConfig,
    ApiTokenConfig,
    Config,
    DatabaseConfig,
    PathsConfig,
)
from bot.daemon import build_triage
from bot.log.store import Store
from tests.api_world import test_client
from tests.learning_log import END, fill_log

CHROMIUM = "/usr/bin/chromium"  # Debian's package (`apt-get install chromium`); Playwright downloads nothing
SECTIONS = ("Ticket volume by department", "Ticket volume by priority", "Auto-route and review rates",
            "Agreement with agents", "Confusion between departments", "SLA: first-answer targets", "Top rules fired",
            "Acknowledgements", "Sources: slowest and most failing first")


@pytest.fixture
def report(tmp_path: Path) -> Path:
    """A report of 3,000 generated tickets over eight weeks, written by the command line."""
    url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    fill_log(Store.open(url), 3000, end=END)
    out = tmp_path / "report.html"
    assert main(["report", "--db", url, "--since", "2026-10-01", "--out", str(out)]) == 0
    return out


def test_the_report_is_one_self_contained_file_with_every_section(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert "<script" not in html.lower(), "no script at all"
    assert not re.search(r"""\b(?:src|href)\s*=|@import|url\(""", html), "nothing loaded from anywhere"
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) <= {"http://www.w3.org/2000/svg"}, "only the SVG namespace"
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in html
    assert html.count("<svg") >= 6, "charts embedded as SVG"
    assert "vip-senders" in html and "low-confidence" in html, "the rules fired"
    assert "429 Too Many Requests" in html, "a source's last error"
    assert "not sent: rule no-ack-vendors" in html


def test_a_period_without_tickets_still_makes_a_report(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    Store.open(url)
    out = tmp_path / "empty.html"
    assert main(["report", "--db", url, "--out", str(out)]) == 0
    assert "No ticket was decided in this period." in out.read_text(encoding="utf-8")


def test_chromium_renders_the_report_without_a_console_error(report: Path, tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' brings Playwright")
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):  # CI installs it: there a missing browser is a failure, never a skip
            pytest.fail("no Chromium: .ci/run must apt-get install chromium")
        pytest.skip("no Chromium: apt-get install chromium (.ci/run does)")
    problems: list[str] = []
    requests: list[str] = []
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri())
            charts = page.locator("svg.chart")
            assert charts.count() >= 6
            box = charts.first.bounding_box()
            assert box is not None and box["width"] > 500 and box["height"] > 100, "the charts are drawn"
            assert page.title().startswith("deskbot report")
            screenshot = tmp_path / "report.png"
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert requests == [report.as_uri()], "the page asks for nothing but itself"
    assert screenshot.stat().st_size > 20_000


def test_the_api_serves_the_report_to_tokens_with_the_report_scope(tmp_path: Path, model_cache: Path) -> None:
    tokens = [ApiTokenConfig(name="admin", token_env="T", token="admin-token-0123456789", scopes=["report"]),
              ApiTokenConfig(name="webform", token_env="T", token="webform-token-0123456789", scopes=["predict"])]
    config = Config(database=DatabaseConfig(url=f"sqlite:///{tmp_path / 'log.sqlite3'}"),
                    paths=PathsConfig(cache=str(model_cache)), base_dir=str(tmp_path), api=ApiConfig(tokens=tokens))
    triage = build_triage(config)
    fill_log(triage.store, 200, end=triage.store.now())
    client, _ = test_client(config, triage)
    with client:
        answer = client.get("/report", params={"since": "90d"}, headers={"Authorization": "Bearer admin-token-0123456789"})
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
        assert "<h2>Agreement with agents</h2>" in answer.text and "<script" not in answer.text
        refused = client.get("/report", headers={"Authorization": "Bearer webform-token-0123456789"})
        assert refused.status_code == 403 and "lacks the scope 'report'" in refused.text
        assert client.get("/report").status_code == 401
        bad = client.get("/report", params={"since": "soon"}, headers={"Authorization": "Bearer admin-token-0123456789"})
        assert bad.status_code == 422 and "a period such as 48h" in bad.text and "soon" not in bad.text  # no echo


def test_accuracy_prints_each_weeks_agreement_from_the_log(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    store = Store.open(url)
    fill_log(store, 2000, end=store.now(), days=28)
    assert main(["accuracy", "--db", url, "--since", "35d", "--json"]) == 0
    weeks = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert 4 <= len(weeks) <= 5 and sum(w["tickets"] for w in weeks) == 2000
    full = [w for w in weeks if w["tickets"] > 300]
    assert full[0]["department_agreement"] < full[-1]["department_agreement"], "the generated team's mistakes fade"
    assert all(0.7 < w["auto_route_rate"] < 0.9 and abs(w["auto_route_rate"] + w["review_rate"] - 1) < 1e-3
               for w in full)
    assert main(["accuracy", "--db", url, "--since", "35d"]) == 0
    assert "department agreement" in capsys.readouterr().out
