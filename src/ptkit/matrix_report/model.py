"""Reports read tolerantly: any missing key reads as None and prints as "-"; a file that is not a
ptkit report at all is one clear error (exit 1), never a traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PtkitError
from ..userfiles import read_bytes
from ..verify.facts import MIN_DRIVER, SCHEMA, cuda_key

SCHEMA_FAMILY = SCHEMA.split("/")[0] + "/"  # "ptkit.verify/": later schema versions stay readable
DASH = "-"


class ReportError(PtkitError):
    """A report file that cannot be read or is not a ptkit report."""


@dataclass(frozen=True)
class Loaded:
    path: Path
    data: dict[str, Any]

    @property
    def variant(self) -> str:
        return str(get(self.data, "run.variant") or self.path.stem)

    @property
    def label(self) -> str:
        """The image's own name (cuda121-pypi-runtime) where the report names one: two flavors, or two sources, of
        a variant are two rows of the report, told apart; else the variant."""
        image = str(get(self.data, "run.image") or "")
        return image.rpartition("/")[2].partition(":")[2] or self.variant

    @property
    def host(self) -> str:
        return str(get(self.data, "run.host") or DASH)

    def get(self, dotted: str) -> Any:
        return get(self.data, dotted)


def get(data: Any, dotted: str) -> Any:
    """data["a"]["b"] for "a.b", or None where any step is missing or not a mapping."""
    for key in dotted.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def text(value: Any) -> str:
    """A cell: "-" for nothing, lists joined by spaces."""
    if value is None or value == "" or value == []:
        return DASH
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return str(value)


def load(path: Path) -> Loaded:
    try:
        data = json.loads(read_bytes(Path(path)))  # a FIFO or an endless device: no hang
    except FileNotFoundError:
        raise ReportError(f"{path}: no such report file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: not valid JSON: {exc}") from None
    schema = data.get("schema") if isinstance(data, dict) else None
    if not isinstance(schema, str) or not schema.startswith(SCHEMA_FAMILY):
        raise ReportError(f"{path}: not a ptkit report (schema {schema!r}, expected {SCHEMA})")
    return Loaded(Path(path), data)


def expand(paths: list[Path]) -> list[Path]:
    """Files as given; a directory stands for the *.json files in it."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.json"))
            if not found:
                raise ReportError(f"{path}: no *.json reports in this directory")
            files += found
        else:
            files.append(path)
    return files


def load_all(paths: list[Path]) -> list[Loaded]:
    return [load(p) for p in expand(paths)]


def min_driver(report: Loaded) -> str | None:
    """The minimum driver for the CUDA release the verifier found in the image."""
    cuda = report.get("environment.cuda") or report.get("environment.build.cuda")
    return MIN_DRIVER.get(cuda_key(str(cuda))) if cuda else None
