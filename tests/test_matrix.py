"""The matrix loader, on the repository's matrix.toml and on small matrices written in tmp_path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ptkit import matrix
from ptkit.matrix import tomllib  # tomllib, or tomli on Python 3.10
from ptkit.verify import facts
from tests.utils import matrix_facts
from tests.utils.ptkit_cli import ROOT, run_ptkit

NOX = [sys.executable, "-m", "nox"]
# Test data, not the repository's facts: a CPU and a CUDA variant, one of them inheriting [defaults].
SMALL = """\
schema = 1
latest = "alpha"

[defaults]
python = "3.11"
base_image = "debian:bookworm-slim"
extra_packages = ["numpy"]

[variants.alpha]
torch = "1.0.0+cpu"
torchvision = ""
torchaudio = ""
cuda = ""
index_url = "https://example.invalid/cpu"

[variants.beta]
torch = "1.1.0"
torchvision = "0.2.0"
torchaudio = "1.1.0"
cuda = "12.4"
index_url = "https://example.invalid/cu124"
python = "3.12"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "matrix.toml"
    path.write_text(text)
    return path


def test_repository_matrix_loads_every_table_with_its_defaults():
    raw = tomllib.loads((ROOT / "matrix.toml").read_text())
    assert matrix_facts.names() == list(raw["variants"])
    assert matrix_facts.MATRIX.latest == raw.get("latest")
    for name, table in raw["variants"].items():
        loaded = matrix_facts.variant(name).to_dict()
        for key, value in {**raw.get("defaults", {}), **table}.items():
            assert loaded[key] == value, f"{name}.{key}"


def test_cuda_variants_are_named_after_their_cuda():
    for v in matrix_facts.MATRIX.variants.values():
        assert v.name == ("cuda" + v.cuda.replace(".", "") if v.cuda else "cpu"), v.name


# NVIDIA's minimum Linux driver of each CUDA release's GA (CUDA Toolkit release notes, table "CUDA Toolkit and
# Corresponding Driver Versions": https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html, and the
# archived notes of each release under https://docs.nvidia.com/cuda/archive/), stated here, not read from ptkit.
NVIDIA_MIN_DRIVER = {"11.8": "520.61.05", "12.1": "530.30.02", "12.4": "550.54.14", "12.6": "560.28.03",
                     "12.8": "570.26", "13.0": "580.65.06", "13.2": "595.45.04"}


def test_each_cuda_variant_asks_for_nvidias_minimum_driver():
    for v in matrix_facts.cuda_variants():
        assert v.cuda in NVIDIA_MIN_DRIVER, f"{v.name}: add CUDA {v.cuda}'s minimum driver from NVIDIA's notes here"
        assert v.min_driver == NVIDIA_MIN_DRIVER[v.cuda], v.name
    assert all(v.min_driver == "" for v in matrix_facts.MATRIX.variants.values() if not v.is_cuda)


def test_local_version_tags_match_the_cuda_of_the_variant():
    for v in matrix_facts.MATRIX.variants.values():
        tag = v.torch.partition("+")[2]
        if tag:
            assert tag == matrix_facts.cuda_tag(v), v.name


def test_small_matrix_inherits_and_overrides_defaults(tmp_path):
    m = matrix.load(write(tmp_path, SMALL))
    assert list(m.variants) == ["alpha", "beta"]
    assert m.latest == "alpha"
    assert m.get("alpha").python == "3.11"  # from [defaults]
    assert m.get("beta").python == "3.12"  # its own
    assert m.get("beta").extra_packages == ("numpy",)
    assert not m.get("alpha").is_cuda
    assert m.get("beta").pins() == {"torch": "1.1.0", "torchvision": "0.2.0", "torchaudio": "1.1.0"}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.replace('torch = "1.1.0"\n', ""), "[variants.beta]: missing key 'torch'"),
        (lambda s: s.replace('cuda = "12.4"', "cuda = 12.4"), "[variants.beta]: key 'cuda' must be a string"),
        (lambda s: s.replace('torch = "1.1.0"', 'torch = "two"'), "[variants.beta]: key 'torch' is not a version"),
        (lambda s: s.replace('cuda = "12.4"', 'cuda = "12"'), "[variants.beta]: key 'cuda' must be MAJOR.MINOR"),
        (lambda s: s.replace('cuda = "12.4"', 'cuda = "99.9"'), "[variants.beta]: CUDA 99.9 has no minimum driver"),
        (lambda s: s.replace('torch = "1.1.0"', 'torch = ""'), "[variants.beta]: key 'torch' must not be empty"),
        (lambda s: s.replace('latest = "alpha"', 'latest = ["alpha"]'), "key 'latest' must name one variant"),
        (lambda s: s.replace("[variants.beta]", "[variants.beta.sources.pypi]\ntorch = \"x\"\n[variants.beta]"),
         "[variants.beta.sources.pypi]: key 'torch' is not a version"),
        (lambda s: s.replace("[variants.alpha]", "[variants.alpha]\ntorhc = 1"),
         "[variants.alpha]: unknown key 'torhc'"),
        (lambda s: s.replace("schema = 1", "schema = 2"), "key 'schema' must be 1"),
        (lambda s: s + "\n[variants.broken\n", "not valid TOML"),
        (lambda s: s.replace('latest = "alpha"', 'latest = "gamma"'), "'latest' must name one variant, got 'gamma'"),
        (lambda s: s.replace("schema = 1", "schema = 2"), ": key 'schema' must be 1, got 2"),
        (lambda s: s.replace("[defaults]", "[defaults]\ntorhc = 1"), ": [defaults]: unknown key 'torhc' (allowed: "),
        (lambda s: s.replace('latest = "alpha"', 'latest = "alpha"\ndefaults = 3').replace(
            '[defaults]\npython = "3.11"\nbase_image = "debian:bookworm-slim"\nextra_packages = ["numpy"]\n', ""),
         ": key 'defaults' must be a table"),
        (lambda s: s.split("[variants.alpha]")[0], ": key 'variants' must be a table"),
        (lambda s: s.split("[variants.alpha]")[0] + "[variants]\n", ": [variants] is empty"),
        (lambda s: s.replace("[variants.beta]", "[variants.Beta]"), "[variants.Beta]: variant names are lower-case"),
        (lambda s: s.replace("[variants.beta]", "[variants.beta.sources.pypi]\ntorch = \"1.1.1\"\n"
                                                "[variants.beta]\nsource = \"pypi\""),
         "[variants.beta.sources.pypi]: is the row's own source already"),
        (lambda s: s.replace('extra_packages = ["numpy"]', 'extra_packages = "numpy"'),
         ": key 'extra_packages' must be a list of package names"),
    ],
)
def test_corrupt_matrix_names_file_and_key(tmp_path, edit, message):
    text = edit(SMALL)
    assert text != SMALL, "the edit must change the matrix"
    path = write(tmp_path, text)
    with pytest.raises(matrix.MatrixError) as err:
        matrix.load(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_adding_a_variant_is_a_data_change(tmp_path):
    cuda = next(iter(facts.MIN_DRIVER))  # any CUDA release the driver table knows
    extra = (ROOT / "matrix.toml").read_text() + '\n[variants.added]\ntorch = "9.9.9"\ntorchvision = ""\n' \
        f'torchaudio = ""\ncuda = "{cuda}"\nindex_url = "https://example.invalid/simple"\n'
    m = matrix.load(write(tmp_path, extra))
    assert m.get("added").python == tomllib.loads(extra)["defaults"]["python"]  # inherited from [defaults]
    proc = run_ptkit("matrix", "--json", "--matrix", str(tmp_path / "matrix.toml"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["added"]["min_driver"] == facts.MIN_DRIVER[cuda]  # the one driver table


def test_a_second_source_is_chosen_explicitly_never_by_fallback():
    for row in matrix_facts.MATRIX.variants.values():
        assert row.from_source(None) is row
        for source in row.alternatives:
            other = matrix_facts.MATRIX.get(row.name, source)
            assert other.source == source
            assert other.torch == row.alternatives[source]["torch"]
            assert other.image_name == f"{row.name}-{source}"
            assert other.min_driver == row.min_driver  # the same CUDA release
    with pytest.raises(matrix.MatrixError, match="has no source 'nosuch'; its sources: "):
        matrix_facts.MATRIX.get(matrix_facts.names()[0], "nosuch")


def test_unknown_variant_lists_valid_ones():
    with pytest.raises(matrix.UnknownVariant, match=f"valid variants: {', '.join(matrix_facts.names())}$"):
        matrix_facts.variant("nosuch")


def test_cli_unknown_variant_and_corrupt_matrix_are_one_line_errors(tmp_path):
    proc = run_ptkit("build", "nosuch")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert f"valid variants: {', '.join(matrix_facts.names())}" in proc.stderr
    bad = write(tmp_path, SMALL.replace('cuda = "12.4"', "cuda = 12"))
    proc = run_ptkit("matrix", "--matrix", str(bad))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"{bad}: [variants.beta]: key 'cuda' must be a string" in proc.stderr


def test_matrix_table_and_json():
    table = run_ptkit("matrix")
    assert table.returncode == 0, table.stderr
    data = json.loads(run_ptkit("matrix", "--json").stdout)
    assert list(data) == matrix_facts.names()
    for v in matrix_facts.MATRIX.variants.values():
        assert v.name in table.stdout
        assert v.torch in table.stdout
        assert not v.min_driver or v.min_driver in table.stdout
        assert data[v.name] == v.to_dict()


def test_nox_rejects_unknown_sessions_with_the_valid_names():
    proc = subprocess.run([*NOX, "-s", "nosuch"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0
    assert f"valid: lint, tests, distributed, matrix, mutation, {', '.join(matrix_facts.names())}" in proc.stderr
    listing = subprocess.run([*NOX, "-l"], cwd=ROOT, capture_output=True, text=True).stdout
    for v in matrix_facts.MATRIX.variants.values():
        tags = f"images,{'cuda' if v.is_cuda else 'cpu'}"
        assert f"- {v.name} [{tags}] -> build ptkit:{v.name} and ptkit:{v.name}-runtime (torch {v.torch}" in listing


def test_the_readme_shows_the_current_matrix():
    table = run_ptkit("matrix").stdout
    assert f"```\n{table}```" in (ROOT / "README.md").read_text(), "README out of date: paste `ptkit matrix`"


# Each edit puts a newline or a pip option into one value of SMALL; each must be refused at load, naming the key.
INJECTIONS = {
    "extra-index-option": ('extra_packages = ["numpy"]', 'extra_packages = ["numpy", "--index-url http://evil"]',
                           "extra_packages"),
    "extra-requirement-file": ('extra_packages = ["numpy"]', 'extra_packages = ["-r /etc/passwd"]', "extra_packages"),
    "extra-newline": ('extra_packages = ["numpy"]', 'extra_packages = ["numpy\\n--trusted-host evil"]',
                      "extra_packages"),
    "extra-empty": ('extra_packages = ["numpy"]', 'extra_packages = [""]', "extra_packages"),
    "index-option": ('"https://example.invalid/cpu"', '"https://example.invalid/cpu --trusted-host evil"',
                     "index_url"),
    "index-newline": ('"https://example.invalid/cpu"', '"https://example.invalid/cpu\\n  - --index-url x"',
                      "index_url"),
    "torch-newline": ('torch = "1.0.0+cpu"', 'torch = "1.0.0+cpu\\n"', "torch"),
    "cuda-newline": ('cuda = "12.4"', 'cuda = "12.4\\n"', "cuda"),
    "python-newline": ('python = "3.11"', 'python = "3.11\\n"', "python"),
    "base-image-newline": ('base_image = "debian:bookworm-slim"', 'base_image = "debian:bookworm-slim\\nRUN id"',
                           "base_image"),
    "description-newline": ('[variants.alpha]', '[variants.alpha]\ndescription = "a\\nb"', "description"),
    "source-newline": ('[variants.alpha]', '[variants.alpha]\nsource = "pypi\\n"', "source"),
}


@pytest.mark.parametrize("name", INJECTIONS)
def test_a_newline_or_a_pip_option_in_a_value_is_refused_at_load(tmp_path, name):
    old, new, key = INJECTIONS[name]
    assert old in SMALL
    with pytest.raises(matrix.MatrixError) as refused:
        matrix.load(write(tmp_path, SMALL.replace(old, new, 1)))
    assert key in str(refused.value) and "\n" not in str(refused.value).replace("\\n", "")


def test_render_writes_nothing_from_a_matrix_with_a_pip_option(tmp_path):
    old, new, _ = INJECTIONS["extra-index-option"]
    bad = write(tmp_path, SMALL.replace(old, new, 1))
    proc = run_ptkit("render", "--matrix", str(bad), "--out", str(tmp_path / "conda"))
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1 and "extra_packages" in proc.stderr
    assert not (tmp_path / "conda").exists()


def test_packages_option_refuses_pip_options():
    from ptkit import render

    with pytest.raises(matrix.MatrixError, match="--packages"):
        render.requirements(matrix_facts.default_variant(), ["torch", "--index-url=http://evil"])
    assert render.requirements(matrix_facts.default_variant(), ["torch", "numpy>=1.26,<3", "pkg[extra]==1.0"])[0][1:] \
        == ["numpy>=1.26,<3", "pkg[extra]==1.0"]


def test_a_row_carries_its_description_and_ptkit_matrix_picks_the_file(tmp_path, monkeypatch):
    path = write(tmp_path, SMALL.replace("[variants.beta]", '[variants.beta]\ndescription = "CUDA 12.4 row"'))
    monkeypatch.setenv("PTKIT_MATRIX", str(path))
    assert matrix.default_path() == path
    m = matrix.load()
    assert (m.get("beta").description, m.get("alpha").description) == ("CUDA 12.4 row", "")
    monkeypatch.delenv("PTKIT_MATRIX")
    assert matrix.default_path() == matrix.PACKAGED


def test_mutation_testing_refuses_to_run_as_root():
    """Mutated code runs for real: as root, a mutant that picks the wrong folder to clean up can remove system
    files (it did: see the noxfile). The session stops before it installs or runs anything."""
    import os

    if os.geteuid() != 0:
        pytest.skip("the refusal is root's")
    proc = subprocess.run([*NOX, "--no-venv", "-s", "mutation"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0
    assert "mutation testing runs mutated code that can delete files: run it as a user who owns this checkout" \
           in proc.stderr
    assert "mutmut" not in proc.stderr.replace("nox -s mutation", "")
