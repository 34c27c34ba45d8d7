"""`ptkit report`: the HTML page and the markdown, from the fixture reports and synthetic GPU reports."""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ptkit import cli
from ptkit.matrix_report import model, tables
from ptkit.verify.facts import MIN_DRIVER, gpu_peaks
from tests.utils.report_samples import REPORTS, gpu_report, real, write

FIXTURES = sorted(REPORTS.glob("*.json"))
SIZES = {"size_bytes": 6_420_000_000, "compressed_bytes": 3_100_000_000, "build_seconds": 754.0}


class Page(HTMLParser):
    """The tags, attributes and text of a page, for asserting on its structure rather than on strings."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def ids(self) -> set[str]:
        return {a["id"] for _, a in self.tags if "id" in a}


def render(tmp_path: Path, *paths: Path, name: str = "report.html") -> str:
    out = tmp_path / name
    assert cli.main(["report", *map(str, paths), "-o", str(out)]) == 0
    return out.read_text()


def test_every_variant_has_a_row_and_every_check_a_status_cell(tmp_path):
    page = Page(render(tmp_path, REPORTS))
    for path in FIXTURES:
        data = real(path.stem)
        assert f"variant-{path.stem}" in page.ids() and f"row-{path.stem}" in page.ids()
        for check in data["checks"]:
            assert check["detail"] in page.text
    classes = [a.get("class", "") for t, a in page.tags if t == "td"]
    assert "cell pass" in classes and "cell skip" in classes


def test_the_page_is_self_contained(tmp_path):
    html = render(tmp_path, REPORTS, tmp_path / write(tmp_path / "in", "gpu", gpu_report("n1", image=SIZES)))
    page = Page(html)
    assert not [t for t, _ in page.tags if t in ("script", "link", "img", "iframe", "object")]
    refs = [v for _, a in page.tags for k, v in a.items() if k in ("src", "href", "xlink:href")]
    refs += re.findall(r"url\(\s*['\"]?([^)'\"]*)", html)
    assert refs and all(ref.startswith("#") for ref in refs)  # only fragments inside the page itself
    assert "@import" not in html
    assert [t for t, _ in page.tags].count("svg") == 2


def test_versions_come_from_the_reports_and_the_driver_table(tmp_path):
    rows = {r[0]: dict(zip(tables.VERSION_COLUMNS, r, strict=True))
            for r in tables.versions(model.load_all([REPORTS]))}
    env = real("cuda130")["environment"]
    assert rows["cuda130"]["torch"] == env["torch"] and rows["cuda130"]["cuDNN"] == env["cudnn"]
    assert rows["cuda130"]["compiled archs"] == " ".join(env["build"]["arch_list"])
    assert rows["cuda130"]["min driver"] == MIN_DRIVER[env["cuda"]]
    assert rows["cpu"]["CUDA"] == rows["cpu"]["min driver"] == rows["cpu"]["image size"] == "-"


def test_image_sizes_and_build_time_when_the_report_has_them(tmp_path):
    path = write(tmp_path, "gpu", gpu_report("n1", image=SIZES))
    [row] = tables.versions(model.load_all([path]))
    assert row[-3:] == ["6.42 GB", "3.10 GB", "12 min 34 s"]
    html = render(tmp_path, path)
    assert 'id="sizes"' in html and "No image sizes" not in html


def test_the_benchmark_plot_has_each_dtype_and_the_datasheet_peak(tmp_path):
    html = render(tmp_path, write(tmp_path, "gpu", gpu_report("n1")))
    figure = html[html.index('<figure id="benchmark">'):]
    figure = figure[:figure.index("</figure>")]
    peaks = gpu_peaks("NVIDIA H100 80GB HBM3")
    for dtype in ("fp32", "bf16"):
        assert f"matmul {dtype}" in figure
        assert f"peak {peaks[dtype]:g}" in figure
    assert "stroke-dasharray" in figure  # the peak line is dashed


def test_reports_without_benchmarks_or_sizes_say_so(tmp_path):
    html = render(tmp_path, REPORTS / "cuda128.json")
    assert "No benchmark in these reports." in html and "No image sizes recorded" in html


def test_a_report_with_missing_keys_shows_dashes(tmp_path):
    path = write(tmp_path, "bare", {"schema": "ptkit.verify/1", "checks": [{"name": "x"}], "environment": []})
    [row] = tables.versions(model.load_all([path]))
    assert row[0] == "bare" and set(row[1:]) == {"-"}
    assert 'id="variant-bare"' in render(tmp_path, path)


def test_markdown_tables_and_figure_files(tmp_path):
    gpu = write(tmp_path / "in", "gpu", gpu_report("n1", image=SIZES))
    out = tmp_path / "out" / "matrix.md"
    assert cli.main(["report", str(REPORTS), str(gpu), "-o", str(out)]) == 0
    text = out.read_text()
    header = next(ln for ln in text.splitlines() if ln.startswith("| variant | flavor"))
    assert header.count("|") == len(tables.VERSION_COLUMNS) + 1
    for path in FIXTURES:
        assert re.search(rf"^\| {path.stem} \|", text, re.M)
    for name in ("benchmark", "sizes"):
        assert f"![matrix-{name}](matrix-{name}.svg)" in text
        assert (out.parent / f"matrix-{name}.svg").read_text().startswith("<svg")


def test_markdown_on_stdout_has_no_figures(capsys):
    assert cli.main(["report", str(REPORTS), "--format", "md"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# ptkit matrix report") and "![" not in out


def run_report(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ptkit", "report", *args],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("content", "cause"), [
    ("{not json", "not valid JSON"), ('{"schema": "other/1"}', "not a ptkit report"), ("[1, 2]", "not a ptkit report"),
    (None, "no such report file")])
def test_a_bad_report_file_is_one_line_and_exit_1(tmp_path, content, cause):
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    proc = run_report(str(REPORTS / "cpu.json"), str(path), "-o", str(tmp_path / "r.html"))
    assert proc.returncode == 1 and proc.stderr.startswith(f"ptkit report: error: {path}: {cause}")
    assert proc.stderr.count("\n") == 1 and not (tmp_path / "r.html").exists()


def test_an_unwritable_output_is_one_line_and_exit_1(tmp_path):
    proc = run_report(str(REPORTS / "cpu.json"), "-o", "/proc/version/report.html")
    assert proc.returncode == 1 and proc.stderr.startswith("ptkit report: error: cannot write /proc/version")
    assert proc.stderr.count("\n") == 1


def test_without_matplotlib_the_html_report_is_one_line_and_exit_1(tmp_path):
    argv = ["report", str(REPORTS / "cpu.json"), "-o", str(tmp_path / "r.html")]
    code = ("import sys; sys.modules['matplotlib'] = None; from ptkit import cli; "
            f"sys.exit(cli.main({argv!r}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr == "ptkit report: error: drawing the report's figures needs matplotlib: pip install matplotlib\n"
