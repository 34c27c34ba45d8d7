"""The GPU catalog (gpus.toml): the verifier's generated copy is current, names are whole names, every figure has
a source, and the models the project promises are there with the facts NVIDIA publishes for them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ptkit.compat import catalog, gpus
from ptkit.errors import UsageError
from ptkit.verify import facts
from ptkit.verify.catalog import GPUS

ROOT = Path(__file__).resolve().parents[1]


def test_the_verifiers_copy_is_what_the_catalog_generates():
    assert catalog.drift() is None
    assert catalog.PACKAGED.resolve() == (ROOT / "gpus.toml").resolve()  # shipped as package data, one file


def test_the_check_command_says_so_and_a_drifted_copy_fails(tmp_path, capsys):
    assert catalog.main(["--check"]) == 0
    stale = tmp_path / "catalog.py"
    stale.write_text("GPUS: dict = {}\n")
    assert "python -m ptkit.compat.catalog --write" in catalog.drift(generated=stale)
    assert catalog.main(["--wrong"]) == 2 and "usage:" in capsys.readouterr().err


# Names as nvidia-smi / torch.cuda.get_device_name() print them, with the compute capability NVIDIA's
# "CUDA GPU Compute Capability" page (developer.nvidia.com/cuda-gpus) gives for the model.
PROMISED = {
    "Tesla V100-SXM2-32GB": "7.0", "Tesla V100-PCIE-16GB": "7.0", "NVIDIA TITAN V": "7.0", "Tesla T4": "7.5",
    "NVIDIA A100-SXM4-40GB": "8.0", "NVIDIA A100-SXM4-80GB": "8.0", "NVIDIA A100-PCIE-40GB": "8.0",
    "NVIDIA A100 80GB PCIe": "8.0", "NVIDIA A30": "8.0", "NVIDIA A800-SXM4-80GB": "8.0",
    "NVIDIA A10": "8.6", "NVIDIA A10G": "8.6", "NVIDIA A16": "8.6", "NVIDIA A40": "8.6", "NVIDIA A2": "8.6",
    "NVIDIA RTX A6000": "8.6", "NVIDIA GeForce RTX 3090": "8.6", "NVIDIA GeForce RTX 3080": "8.6", "Orin": "8.7",
    "NVIDIA L4": "8.9", "NVIDIA L40": "8.9", "NVIDIA L40S": "8.9", "NVIDIA RTX 6000 Ada Generation": "8.9",
    "NVIDIA GeForce RTX 4090": "8.9", "NVIDIA GeForce RTX 4080": "8.9", "NVIDIA GeForce RTX 4070": "8.9",
    "NVIDIA H100 80GB HBM3": "9.0", "NVIDIA H100 PCIe": "9.0", "NVIDIA H100 NVL": "9.0", "NVIDIA H200": "9.0",
    "NVIDIA H200 NVL": "9.0", "NVIDIA H20": "9.0", "NVIDIA H800": "9.0", "NVIDIA GH200 480GB": "9.0",
    "NVIDIA B200": "10.0", "NVIDIA B100": "10.0", "NVIDIA GB200": "10.0", "NVIDIA GB300": "10.3",
    "NVIDIA Thor": "11.0", "NVIDIA RTX PRO 6000 Blackwell Server Edition": "12.0",
    "NVIDIA RTX PRO 6000 Blackwell Workstation Edition": "12.0", "NVIDIA GeForce RTX 5090": "12.0",
    "NVIDIA GeForce RTX 5080": "12.0", "NVIDIA GB10": "12.1", "Tesla P100-PCIE-16GB": "6.0",
}


def test_at_least_45_models_and_every_promised_one_with_its_capability():
    assert len(GPUS) >= 45
    assert {name: gpus.capability_of(name) for name in PROMISED} == PROMISED
    assert gpus.capability_of("jetson-orin-nano") == "8.7" and gpus.capability_of("B300 (HGX B300)") == "10.3"


# Every pair a substring (or prefix) match would confuse: each side is its own model, or no model at all.
CONFUSABLE = [
    ("NVIDIA H100 80GB HBM3", "NVIDIA H100 NVL"), ("NVIDIA H100 PCIe", "NVIDIA H100 NVL"),
    ("NVIDIA H100 80GB HBM3", "NVIDIA GH200 480GB"), ("NVIDIA H200", "NVIDIA H200 NVL"),
    ("NVIDIA H200", "NVIDIA GH200 480GB"), ("NVIDIA H20", "NVIDIA H200"), ("NVIDIA B200", "NVIDIA GB200"),
    ("NVIDIA B300 SXM6 AC", "NVIDIA GB300"), ("NVIDIA A100-SXM4-80GB", "NVIDIA A100X"),
    ("NVIDIA L40", "NVIDIA L40S"), ("NVIDIA L4", "NVIDIA L40"),
    ("NVIDIA GeForce RTX 4090", "NVIDIA GeForce RTX 4090 D"),
    ("NVIDIA A10", "NVIDIA A10G"), ("NVIDIA A10", "NVIDIA A100-PCIE-40GB"), ("NVIDIA A2", "NVIDIA A200"),
    ("NVIDIA A16", "NVIDIA A100X"), ("NVIDIA GeForce RTX 3090", "NVIDIA GeForce RTX 3090 Ti"),
    ("NVIDIA RTX 6000 Ada Generation", "NVIDIA RTX PRO 6000 Blackwell Server Edition"),
    ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", "NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition"),
    ("NVIDIA RTX A6000", "NVIDIA RTX 6000 Ada Generation"), ("Tesla V100-SXM2-16GB", "Tesla V100S-PCIE-32GB"),
    ("Tesla P4", "Tesla P40"), ("NVIDIA GB10", "NVIDIA GB100"),
    ("NVIDIA GeForce RTX 5080", "NVIDIA GeForce RTX 5080 Ti"),
]


@pytest.mark.parametrize(("one", "other"), CONFUSABLE)
def test_confusable_names_are_different_models(one, other):
    assert facts.gpu_key(one) is not None
    assert facts.gpu_key(one) != facts.gpu_key(other)


@pytest.mark.parametrize("name", ["NVIDIA H100", "H10", "NVIDIA GeForce RTX 409", "GeForce", "NVIDIA", ""])
def test_a_part_of_a_name_is_no_model(name):
    assert facts.gpu_key(name) is None


def test_names_match_as_drivers_print_them_old_and_new():
    assert facts.gpu_key("GeForce RTX 3090") == facts.gpu_key("NVIDIA GeForce RTX 3090")  # pre-R470 drivers
    assert facts.gpu_key("  nvidia   L40S ") == facts.gpu_key("NVIDIA L40S")


def test_an_unknown_name_is_a_usage_error_naming_close_ones():
    with pytest.raises(UsageError, match=r"unknown GPU model 'NVIDIA H100'.*closest: .*'NVIDIA H100 PCIe'"):
        gpus.capability_of("NVIDIA H100")


@pytest.mark.parametrize("name", ["NVIDIA GH200 480GB", "NVIDIA GB200", "NVIDIA GB300", "NVIDIA GB10", "Orin",
                                  "jetson-orin-nano", "NVIDIA Thor"])
def test_superchips_and_embedded_modules_are_arm64(name):
    assert GPUS[facts.gpu_key(name)]["cpu"] == "arm64"


def test_discrete_cards_carry_no_cpu_and_pre_volta_is_marked():
    assert "cpu" not in GPUS[facts.gpu_key("NVIDIA H100 80GB HBM3")]
    assert all(bool(g.get("pre_volta")) == (float(g["capability"]) < 7.0) for g in GPUS.values())


def test_every_figure_has_a_source():
    for key, entry in catalog.load().items():
        assert entry["capability_source"].startswith("https://"), key
        if "memory_gb" in entry or "peaks" in entry:
            assert (entry.get("source") or entry.get("peaks_source", "")).startswith("https://"), key


def test_dense_peaks_rise_tensor_over_fp32_and_stay_physical():
    for key, entry in GPUS.items():
        peaks = entry.get("peaks", {})
        assert all(0 < v < facts.UNKNOWN_GPU_CEILING_TFLOPS for v in peaks.values()), key
        assert peaks.get("bf16", peaks.get("fp32", 0)) >= peaks.get("fp32", 0), key


GOOD = ('schema = 1\ncapability_source = "https://a"\n[gpus.x]\nmodel = "X"\nnames = ["X"]\ncapability = "8.0"\n'
        'kind = "consumer"\n')  # one valid model: each row below breaks one rule
KIND = 'kind = "consumer"'


@pytest.mark.parametrize(("text", "why"), [
    ('schema = 1\n[gpus.x]\nmodel = "X"\nnames = ["X"]\ncapability = "8.0"\nkind = "consumer"\nmemory_gb = 8\n',
     "gpus.x: memory_gb without a source"),
    ('schema = 1\ncapability_source = "https://a"\n[gpus.x]\nmodel = "X"\nnames = ["X"]\ncapability = "8.0"\n'
     'kind = "consumer"\npeaks = { fp32 = 1.0 }\n', "gpus.x: peaks without a source"),
    ('schema = 1\n[gpus.x]\nmodel = "X"\nnames = ["X"]\ncapability = "8.0"\nkind = "consumer"\n',
     "gpus.x: capability without a source"),
    ('schema = 1\ncapability_source = "https://a"\n[gpus.x]\nmodel = "X"\nnames = ["Y"]\ncapability = "8.0"\n'
     'kind = "consumer"\n[gpus.y]\nmodel = "Y"\nnames = []\ncapability = "8.6"\nkind = "consumer"\n',
     "gpus.y: name 'y' is also x's"),
    ('schema = 1\ncapability_source = "https://a"\n[gpus.x]\nmodel = "X"\nnames = ["X"]\ncapability = "8"\n'
     'kind = "consumer"\n', "capability '8' is not X.Y"),
    ('schema = 1\ncapability_source = "https://a"\n[gpus.x]\nmodel = "X"\nnames = ["X"]\ncapability = "8.0"\n'
     'kind = "consumer"\npeaks = { fp64 = 1.0 }\nsource = "https://a"\n', "peaks maps fp32"),
    ("schema = 2\n", "expected schema = 1"),
    (GOOD.replace('[gpus.x]', '[gpus.X]'), "gpus.X: a model is a table under a lower-case key"),
    (GOOD.replace(KIND, KIND + '\ncolour = "green"'), "gpus.x: unknown \\['colour'\\], missing \\[\\]"),
    (GOOD.replace(KIND + '\n', ''), "gpus.x: unknown \\[\\], missing \\['kind'\\]"),
    (GOOD.replace(KIND, 'kind = "gaming"'), "gpus.x: kind must be one of data-center, workstation, consumer, embedded, "
     "superchip; cpu, where given, arm64"),
    (GOOD.replace(KIND, KIND + '\ncpu = "x86_64"'), "gpus.x: kind must be one of"),
    (GOOD.replace('names = ["X"]', 'names = "X"'), "gpus.x: names is a list of the names nvidia-smi prints"),
    (GOOD.replace('names = ["X"]', 'names = ["X", " "]'), "gpus.x: names is a list"),
    (GOOD.replace(KIND, KIND + '\npeaks = { fp32 = -1.0 }\nsource = "https://a"'), "gpus.x: peaks maps fp32"),
    (GOOD.replace(KIND, KIND + '\npeaks = { int4 = 1.0 }\nsource = "https://a"'), "gpus.x: peaks maps"),
    (GOOD.replace(KIND, KIND + '\nsource = "http://a"'),
     "gpus.x: source 'http://a' is not an https URL"),
])
def test_a_bad_catalog_names_the_file_and_the_key(tmp_path, text, why):
    path = tmp_path / "gpus.toml"
    path.write_text(text)
    with pytest.raises(catalog.CatalogError, match=why) as error:
        catalog.load(path)
    assert str(error.value).startswith(f"{path}: ")


def test_write_regenerates_the_verifiers_copy_and_check_then_passes(tmp_path, monkeypatch, capsys):
    copy = tmp_path / "catalog.py"
    copy.write_text("GPUS: dict = {}\n")
    monkeypatch.setattr(catalog, "GENERATED", copy)
    assert catalog.main(["--check"]) == 1
    assert capsys.readouterr().err == f"ptkit: {copy} is not what {catalog.PACKAGED} generates: run " \
                                      "`python -m ptkit.compat.catalog --write`\n"
    assert catalog.main(["--write"]) == 0
    assert copy.read_text() == (ROOT / "src" / "ptkit" / "verify" / "catalog.py").read_text()
    assert catalog.main(["--check"]) == 0 and capsys.readouterr().err == ""
    assert catalog.main(["--write", "--check"]) == 2
    assert capsys.readouterr().err == "usage: python -m ptkit.compat.catalog --write|--check\n"
