"""The GPU verdict table (every catalog GPU x every committed CUDA image) against torch's own check, stated here
independently, with every case where the two disagree and why; and the table where the README shows it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ptkit.matrix_report import gpu_verdicts, markdown, model
from ptkit.verify.catalog import GPUS

ROOT = Path(__file__).resolve().parents[1]
EVIDENCE = ROOT / "docs" / "evidence" / "matrix"


def reports() -> list[model.Loaded]:
    return model.load_all([EVIDENCE])


def torch_runs(capability: str, arch_list: list[str]) -> bool:
    """torch's test at its first CUDA call (torch/cuda/__init__.py, _check_cubins, torch 2.13): it warns only when
    no compiled sm_ arch has the device's major version ("backward compatible within major version")."""
    major = int(capability.split(".")[0])
    return any(int(a.split("_")[1].rstrip("af")) // 10 == major for a in arch_list if a.startswith("sm_"))


def expected_disagreements(images: list[gpu_verdicts.Image]) -> dict[tuple[str, str], str]:
    """Where CUDA's rule and torch's major-only test part, by NVIDIA's rules (see verify/archs.py)."""
    found = {}
    for image in images:
        sass = [a for a in image.archs if a.startswith("sm_")]
        if "sm_70" not in sass and any(a.startswith("sm_7") for a in sass):
            found[("7.0", image.name)] = "SASS runs on later minors only: sm_75 is no Volta code"
        if any(a.startswith("sm_8") for a in sass) and "sm_87" not in sass:
            found[("8.7", image.name)] = "Jetson Orin is an integrated GPU: dGPU SASS of major 8 does not run there"
    return found


def test_the_table_and_torchs_check_disagree_only_where_the_rules_say():
    images = gpu_verdicts.images(reports())
    # the six CUDA rows of the last matrix run, and cuda130 and cuda132 built for arm64: columns of their own
    assert len(images) == 8 and len({i.name for i in images}) == 8
    assert sorted(i.name.split(" (")[0] for i in images if i.machine == "arm64") == ["cuda130 on arm64",
                                                                                       "cuda132 on arm64"]
    disagree = {}
    for gpu in GPUS.values():
        cap = str(gpu["capability"])
        for image in images:
            ours = gpu_verdicts.judge(cap, "", image).outcome != gpu_verdicts.NO  # the archs alone, as torch
            if ours != torch_runs(cap, image.archs):
                disagree[(cap, image.name)] = "ptkit says " + ("runs" if ours else "does not run")
    expected = expected_disagreements(images)
    assert set(disagree) == set(expected), sorted(set(disagree) ^ set(expected))
    assert all(text == "ptkit says does not run" for text in disagree.values())  # ptkit is never the looser
    print("\n".join(f"{cap} on {image}: {why}" for (cap, image), why in sorted(expected.items())))


def test_an_arm64_gpu_is_refused_an_x86_64_image_but_its_archs_are_shown():
    image = gpu_verdicts.Image("x", ["sm_80", "sm_90", "sm_120"], "x86_64", False)
    verdict = gpu_verdicts.judge("12.1", "arm64", image)
    assert verdict.outcome == gpu_verdicts.NO and "by its archs alone: native: sm_120 SASS" in verdict.why
    assert gpu_verdicts.judge("12.1", "", image).outcome == gpu_verdicts.NATIVE


def test_the_fatbin_listing_decides_over_the_arch_list(tmp_path):
    data = json.loads((EVIDENCE / "cuda128-pypi-runtime.json").read_text())
    listing = {"sm_75": 9, "sm_80": 9, "sm_86": 9, "sm_90": 9, "sm_100": 9, "sm_120": 9, "sm_70": 1}
    data["environment"]["build"]["fatbin"] = {"libtorch_cuda.so": listing}  # sm_70 for one kernel only
    (tmp_path / "r.json").write_text(json.dumps(data))
    (image,) = gpu_verdicts.images(model.load_all([tmp_path]))
    assert image.from_fatbin and "sm_70" not in image.archs
    assert gpu_verdicts.judge("7.0", "", image).outcome == gpu_verdicts.NO


def test_every_catalog_gpu_is_in_a_row_once():
    _, rows = gpu_verdicts.table(reports())
    named = [m for row in rows for m in row[1].split(", ")]
    assert sorted(named) == sorted(str(g["model"]) for g in GPUS.values())


def test_the_markdown_report_and_the_readme_show_the_table():
    text, _ = markdown.render(reports())
    head, rows = gpu_verdicts.table(reports())
    section = "\n".join(markdown.table(head, rows))
    assert f"## GPUs\n\n{gpu_verdicts.LEGEND}\n\n{section}" in text
    readme = (ROOT / "README.md").read_text()
    assert section in readme, "README out of date: paste the GPUs table of `ptkit report docs/evidence/matrix --md`"


def test_the_html_report_colours_the_verdicts():
    from ptkit.matrix_report import html

    page = html.render(reports())
    section = page[page.index('<table id="gpus">'):]
    section = section[:section.index("</table>")]
    assert '<td class="cell pass">native: sm_86 SASS</td>' in section  # an Ada GPU on every CUDA row
    assert '<td class="cell fail">no: below the lowest compiled arch sm_70</td>' in section  # Pascal on cu128
    assert section.count("<tr>") == len(gpu_verdicts.groups()) + 1


def test_every_committed_cuda_report_with_a_listing_agrees_with_it():
    """The issue's acceptance, once a matrix run with cuobjdump on its host has committed the listings."""
    from ptkit.verify.fatbin_check import PASS, TORCH_LIBRARY, compare

    listed = [r for r in reports() if isinstance(r.get("environment.build.fatbin"), dict)]
    if not listed:
        pytest.skip("no committed report carries a fatbin listing yet: the next matrix run records them")
    for r in listed:
        listing = r.get("environment.build.fatbin")[TORCH_LIBRARY]
        assert compare(r.get("environment.build.arch_list"), listing)[0] == PASS, r.path
        assert any(c["name"] == "arch:fatbin" and c["status"] == "pass" for c in r.get("checks")), r.path


def test_a_grace_hopper_runs_the_rows_arm64_builds_and_is_refused_their_x86_64_ones():
    """GH200 (9.0, an arm64 host): the last matrix run's cuda130 and cuda132 built for arm64 hold sm_90 SASS."""
    for image in gpu_verdicts.images(reports()):
        if image.name.startswith(("cuda130", "cuda132")):
            verdict = gpu_verdicts.judge("9.0", "arm64", image)
            expected = gpu_verdicts.NATIVE if image.machine == "arm64" else gpu_verdicts.NO
            assert verdict.outcome == expected, (image.name, verdict)
