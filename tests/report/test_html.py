"""The HTML report: self-contained, numbers from the database, and really rendered by a
headless Chromium (tables in the DOM, embedded images decoded)."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import matplotlib.image as mpimg
import pytest
from scipy import stats

from tests.helpers.cli import cli_output
from tests.helpers.report_db import build_report_db

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
PROBE = """<script>
window.addEventListener("load", () => {
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify({
    images: Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight]),
    tables: document.querySelectorAll("table").length,
    rows: document.querySelectorAll("tr").length,
  });
  document.body.appendChild(probe);
});
</script>"""


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("html") / "results.db"
    build_report_db(path).dispose()
    return path


@pytest.fixture(scope="module")
def page(db: Path) -> Path:
    out = db.parent / "report"
    printed = cli_output(db, "report", "--out", str(out), "--run", "1", "--run", "2")
    assert printed.strip() == str(out / "index.html")
    return out / "index.html"


def success_cell(db: Path, run_id: int, bin_index: int) -> str:
    con = sqlite3.connect(db)
    k, n = con.execute(
        "SELECT SUM(outcome = 'success'), SUM(outcome NOT IN ('skipped-not-attackable', 'error'))"
        " FROM trials WHERE run_id = ? AND bin_index = ?",
        (run_id, bin_index),
    ).fetchone()
    con.close()
    ci = stats.binomtest(k, n).proportion_ci(method="wilson")
    return f"{100 * k / n:.1f} [{100 * ci.low:.1f}, {100 * ci.high:.1f}]"


def test_page_is_self_contained(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "<script" not in text and "<link" not in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", text)
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == 2  # leaderboard plot and comparison plot
    for b64 in images:
        pixels = mpimg.imread(io.BytesIO(base64.b64decode(b64)), format="png")
        assert pixels.shape[0] > 300 and pixels[..., :3].std() > 0.05


def test_page_holds_the_numbers_and_sections(db: Path, page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for heading in ("Runs", "Summary", "Success rate by label-frequency bin", "Paired comparison"):
        assert f"<h2>{heading}</h2>" in text
    for run_id in (1, 2):
        for b in range(4):
            assert success_cell(db, run_id, b) in text
    assert "bin 0: freq 1–2" in text and "McNemar exact p" in text
    assert text.count('<table class="example">') == 6  # three successes per run
    assert "<del>" in text and "<ins>" in text


def test_report_explains_a_missing_comparison(db: Path, tmp_path: Path) -> None:
    cli_output(db, "report", "--out", str(tmp_path / "r"), "--run", "1", "--run", "3",
            "--examples", "0")  # fmt: skip
    text = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert "No comparison: runs 1 and 3 attacked no (sample, target) pair in common" in text
    assert '<table class="example">' not in text


def _chromium(args: list[str], user_dir: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={user_dir}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_chromium_renders_tables_and_decodes_images(db: Path, page: Path, tmp_path: Path) -> None:
    probed = page.parent / "probed.html"  # a copy with a probe; the report itself has no script
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"))
    dom = _chromium(
        ["--virtual-time-budget=10000", "--dump-dom", probed.as_uri()], tmp_path / "u1"
    ).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom)
    assert found, dom[-2000:]
    probe = json.loads(found.group(1))
    source = page.read_text(encoding="utf-8")
    assert len(probe["images"]) == source.count("<img ")
    for complete, width, height in probe["images"]:
        assert complete and width > 300 and height > 200  # decoded, not a broken image
    assert probe["tables"] == source.count("<table")
    assert probe["rows"] > 20
    assert success_cell(db, 1, 0) in dom and "bin 3: freq 41–900" in dom

    shot = tmp_path / "shot.png"
    _chromium(["--window-size=1200,1600", f"--screenshot={shot}", page.as_uri()], tmp_path / "u2")
    pixels = mpimg.imread(shot)
    assert pixels.shape[:2] == (1600, 1200) and pixels[..., :3].std() > 0.05
