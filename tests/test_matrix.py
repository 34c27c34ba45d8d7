from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, run_ptkit
from ptkit import matrix
from ptkit.verify import facts

GOOD = (ROOT / "matrix.toml").read_text()


def test_repository_matrix_has_every_variant_of_the_brief():
    m = matrix.load(ROOT / "matrix.toml")
    assert list(m.variants) == ["cpu", "cuda118", "cuda121", "cuda124", "cuda126", "cuda128", "cuda130"]
    assert m.get("cuda130").torch == "2.14.1" and m.get("cuda130").cuda == "13.0"
    assert not m.get("cpu").is_cuda and m.get("cpu").torch.endswith("+cpu")


def test_matrix_driver_minimums_agree_with_the_verifier_table():
    for variant in matrix.load(ROOT / "matrix.toml").variants.values():
        if variant.cuda:
            assert facts.MIN_DRIVER[variant.cuda] == variant.min_driver, variant.name


def test_local_version_tags_match_the_cuda_of_the_variant():
    for v in matrix.load(ROOT / "matrix.toml").variants.values():
        tag = v.torch.partition("+")[2]
        if tag:
            assert tag == ("cpu" if not v.cuda else "cu" + v.cuda.replace(".", "")), v.name


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "matrix.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.replace('torch = "2.14.1"\n', ""), "[variants.cuda130]: missing key 'torch'"),
        (lambda s: s.replace('cuda = "12.4"', "cuda = 12.4"), "[variants.cuda124]: key 'cuda' must be a string"),
        (lambda s: s.replace('torch = "2.6.0"', 'torch = "two"'), "[variants.cuda124]: key 'torch' is not a version"),
        (lambda s: s.replace('min_driver = "570.26"', 'min_driver = ""'),
         "[variants.cuda128]: keys 'cuda' and 'min_driver' must be set together"),
        (lambda s: s.replace("[variants.cpu]", "[variants.cpu]\ntorhc = 1"), "[variants.cpu]: unknown key 'torhc'"),
        (lambda s: s.replace("schema = 1", "schema = 2"), "key 'schema' must be 1"),
        (lambda s: s + "\n[variants.broken\n", "not valid TOML"),
        (lambda s: s.replace('latest = "cpu"', 'latest = "gpu"'), "key 'latest' names no variant: 'gpu'"),
    ],
)
def test_corrupt_matrix_names_file_and_key(tmp_path, edit, message):
    path = write(tmp_path, edit(GOOD))
    with pytest.raises(matrix.MatrixError) as err:
        matrix.load(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_adding_a_variant_is_a_data_change(tmp_path):
    extra = GOOD + '\n[variants.cuda129]\ntorch = "2.9.1+cu129"\ntorchvision = "0.24.1+cu129"\n' \
        'torchaudio = "2.9.1+cu129"\ncuda = "12.9"\nindex_url = "https://download.pytorch.org/whl/cu129"\n' \
        'min_driver = "575.51.03"\n'
    m = matrix.load(write(tmp_path, extra))
    assert m.get("cuda129").python == "3.11"  # inherited from [defaults]
    proc = run_ptkit("matrix", "--json", "--matrix", str(tmp_path / "matrix.toml"), check_json=True)
    assert proc.returncode == 0 and proc.json["cuda129"]["min_driver"] == "575.51.03"


def test_unknown_variant_lists_valid_ones():
    with pytest.raises(matrix.UnknownVariant, match="valid variants: cpu, cuda118"):
        matrix.load(ROOT / "matrix.toml").get("cuda999")


def test_cli_unknown_variant_and_corrupt_matrix_are_one_line_errors(tmp_path):
    proc = run_ptkit("build", "nosuch")
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "valid variants: cpu, cuda118" in proc.stderr
    bad = write(tmp_path, GOOD.replace('cuda = "13.0"', "cuda = 13"))
    proc = run_ptkit("matrix", "--matrix", str(bad))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"{bad}: [variants.cuda130]: key 'cuda' must be a string" in proc.stderr


def test_matrix_table_and_json():
    table = run_ptkit("matrix")
    assert table.returncode == 0 and "cuda118" in table.stdout and "520.61.05" in table.stdout
    data = json.loads(run_ptkit("matrix", "--json").stdout)
    assert data["cuda118"]["index_url"].endswith("/cu118")


NOX = [sys.executable, "-m", "nox"]


def test_nox_rejects_unknown_sessions_with_the_valid_names():
    proc = subprocess.run([*NOX, "-s", "nosuch"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0 and "valid: lint, tests, cpu, cuda118" in proc.stderr
    listing = subprocess.run([*NOX, "-l"], cwd=ROOT, capture_output=True, text=True).stdout
    for name in ("cpu", "cuda118", "cuda121", "cuda124", "cuda126", "cuda128", "cuda130"):
        assert f"- {name} -> build ptkit:{name}" in listing
