"""The files behind the bad-input table's {matrix:EDIT} and {json:NAME} placeholders (tests/utils/bad_inputs.py)."""

from __future__ import annotations

# Edits of a copy of matrix.toml, applied as text replacements (old, new).
MATRIX_EDITS: dict[str, tuple[str, str]] = {
    "latest-list": ('latest = "cpu"', 'latest = ["cpu"]'),
    "cuda-major-only": ('cuda = "13.0"', 'cuda = "13"'),
    "unknown-key": ("[variants.cpu]", "[variants.cpu]\ntorhc = 1"),
    "empty-torch": ('torch = "2.13.0+cpu"', 'torch = ""'),
    "bad-toml": ("[variants.cpu]", "[variants.cpu"),
    "unknown-cuda": ('cuda = "13.0"', 'cuda = "99.9"'),
    "extra-pip-option": ('extra_packages = ["numpy"]', 'extra_packages = ["numpy", "--index-url http://evil"]'),
    "extra-newline": ('extra_packages = ["numpy"]', 'extra_packages = ["numpy\\n--trusted-host evil"]'),
    "index-option": ('index_url = "https://download.pytorch.org/whl/cpu"',
                     'index_url = "https://download.pytorch.org/whl/cpu --trusted-host evil"'),
    "torch-newline": ('torch = "2.13.0+cpu"', 'torch = "2.13.0+cpu\\n"'),
    "base-image-newline": ('base_image = "debian:bookworm-slim"', 'base_image = "debian:bookworm-slim\\nRUN id"'),
    "description-newline": ('description = "CPU-only', 'description = "two\\nlines; CPU-only'),
    "dead-index": ('index_url = "https://download.pytorch.org/whl/cpu"', 'index_url = "http://127.0.0.1:9/simple"'),
}

REPORT = "ptkit.verify/1"
MANIFEST = "ptkit.manifest/1"
# Files for {json:NAME}: reports and manifests of odd shapes and figures.
JSON_FILES: dict[str, object] = {
    "empty-report": {"schema": REPORT, "environment": {}},
    "malformed-manifest": {"schema": MANIFEST, "python": {"packages": {"numpy": {}}}},
    "manifest-python-list": {"schema": MANIFEST, "python": []},
    "zero-busbw": {"schema": REPORT, "ok": True, "run": {"host": "a"},
                   "distributed": {"world_size": 2, "bandwidth": [{"bytes": 1, "busbw_gbps": 0}]}},
    "negative-busbw": {"schema": REPORT, "ok": True, "run": {"host": "b"},
                       "distributed": {"world_size": 2, "bandwidth": [{"bytes": 1, "busbw_gbps": -1.5}]}},
    "nan-tflops": {"schema": REPORT, "ok": True, "benchmarks": [
        {"device": "cpu", "dtype": "fp32", "status": "ok", "tflops": float("nan")},
        {"device": "cpu", "dtype": "fp32", "status": "ok", "tflops": float("inf")}]},
    "mixed-types": {"schema": REPORT, "ok": "yes", "checks": 5, "devices": "H100", "benchmarks": {"tflops": 1},
                    "distributed": {"ranks": 7, "world_size": True,
                                    "bandwidth": [{"bytes": "1M", "busbw_gbps": 2}, {"bytes": 3, "busbw_gbps": 1}]}},
}
