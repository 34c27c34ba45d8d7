"""The matrix report in a real headless browser (Debian's chromium; scripts/host-setup.sh installs it):
every variant row rendered, the plots visible in a screenshot that is not blank, no console message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ptkit import cli
from tests.utils.report_samples import REPORTS, gpu_report, write

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
if BROWSER is None and os.environ.get("CI"):
    pytest.fail("chromium is missing on this CI host: run scripts/host-setup.sh", pytrace=False)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no chromium: run scripts/host-setup.sh")

WINDOW = (1400, 3000)
MATPLOTLIB_BLUE = (0x1F, 0x77, 0xB4)  # the first colour of matplotlib's cycle: the plots' first line and bar
SIZES = {"size_bytes": 6_420_000_000, "compressed_bytes": 3_100_000_000, "build_seconds": 754.0}


def chromium(page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [BROWSER, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--enable-logging=stderr", "--v=0", f"--window-size={WINDOW[0]},{WINDOW[1]}",
               f"--user-data-dir={page.parent / 'chromium-profile'}", *args, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)


def console_messages(stderr: str) -> list[str]:
    """What the page said on its console (errors, uncaught exceptions, failed loads); ours says nothing."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def screenshot(page: Path) -> tuple[object, list[str]]:
    from matplotlib import image

    png = page.with_suffix(".png")
    proc = chromium(page, f"--screenshot={png}")
    return image.imread(png), console_messages(proc.stderr)


def pixels_like(picture: object, rgb: tuple[int, int, int], tolerance: float = 0.06) -> int:
    import numpy as np

    colours = np.asarray(picture)[..., :3]
    return int((np.abs(colours - np.array(rgb) / 255).max(axis=-1) < tolerance).sum())


def non_white_fraction(picture: object) -> float:
    import numpy as np

    return float((np.asarray(picture)[..., :3].min(axis=-1) < 0.95).mean())


class Rows(HTMLParser):
    def __init__(self, dom: str) -> None:
        super().__init__()
        self.variants: list[str] = []
        self.svgs = 0
        self.feed(dom)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.svgs += tag == "svg"
        found = dict(attrs)
        if tag == "tr" and str(found.get("id", "")).startswith("variant-"):
            self.variants.append(str(found["data-variant"]))


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("browser")
    data = gpu_report("node01", image=SIZES, variant="cuda130")
    data["run"]["image"] = "registry.example/team/pytorch:cuda130-gpu"  # a row is named by its image's tag
    node = write(tmp / "in", "gpu-node", data)
    out = tmp / "report.html"
    assert cli.main(["report", str(REPORTS), str(node), "-o", str(out)]) == 0
    return out


def test_every_variant_row_and_both_plots_are_in_the_rendered_dom(page):
    proc = chromium(page, "--dump-dom")
    rows = Rows(proc.stdout)
    # the matrix run names each report file after its image (ptkit:cuda130-runtime -> cuda130-runtime.json)
    assert sorted(rows.variants) == sorted([p.stem for p in REPORTS.glob("*.json")] + ["cuda130-gpu"])
    assert rows.svgs == 2
    assert console_messages(proc.stderr) == []


def test_the_screenshot_shows_the_plots(page):
    picture, messages = screenshot(page)
    assert messages == []
    assert picture.shape[:2] == (WINDOW[1], WINDOW[0])
    assert pixels_like(picture, MATPLOTLIB_BLUE) > 500  # plot lines, markers and bars, drawn
    assert non_white_fraction(picture) > 0.05


def test_the_checks_catch_a_broken_page_and_a_blank_one(tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><html><body><p>x</p><script>undefinedFunction();</script></body></html>")
    picture, messages = screenshot(broken)
    assert any("Uncaught ReferenceError" in m for m in messages)
    assert pixels_like(picture, MATPLOTLIB_BLUE) == 0 and non_white_fraction(picture) < 0.01
