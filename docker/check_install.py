"""Fail the image build when what pip installed is not what the matrix pinned.

Usage: check_install.py expected.json, where expected.json is
{"variant": "cuda130", "packages": {"torch": "2.14.1", ...}, "cuda": "13.0" or ""}.
"""

import importlib.metadata
import json
import sys


def main(path: str) -> int:
    with open(path) as fh:
        expected = json.load(fh)
    errors = []
    for name, version in expected["packages"].items():
        try:
            got = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            got = None
        if got != version:
            errors.append(f"{name}: matrix pins {version}, installed {got or 'nothing'}")
    import torch

    built = torch.version.cuda or ""
    want = expected["cuda"]
    if want and not built.startswith(want):
        errors.append(f"torch {torch.__version__} is built for {built or 'CPU only'}, variant needs CUDA {want}")
    if not want and built:
        errors.append(f"torch {torch.__version__} is a CUDA {built} build, variant {expected['variant']} is CPU-only")
    for error in errors:
        print(f"ptkit: install check failed: {error}", file=sys.stderr)
    if not errors:
        print(f"ptkit: install check passed: torch {torch.__version__} (CUDA {built or 'none'})")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
