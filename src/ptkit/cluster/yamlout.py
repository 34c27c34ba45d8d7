"""A small YAML writer for the manifests and workflows generated here (no YAML library on the host).

Plain scalars only where YAML 1.1 and 1.2 read them back as the same string; everything else is a
JSON string (valid YAML), and text with newlines is a literal block.
"""

from __future__ import annotations

import json
import re
from typing import Any

PLAIN = re.compile(r"^[A-Za-z_/.][A-Za-z0-9_./@:+-]*$")
# Words YAML 1.1 reads as booleans or null (GitHub and kubectl use different YAML versions).
SPECIAL = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


def scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    text = str(value)
    if PLAIN.match(text) and text.lower() not in SPECIAL and not text.endswith(":"):
        return text
    return json.dumps(text)


def key(name: str) -> str:
    # `on:` as a workflow key is what GitHub documents; every parser used here reads it as a string key.
    return name if name == "on" or scalar(name) == name else json.dumps(name)


def _block(text: str, indent: str) -> str:
    body = "\n".join((indent + line) if line else "" for line in text.rstrip("\n").split("\n"))
    return "|\n" + body


def _lines(value: Any, indent: str) -> list[str]:
    out: list[str] = []
    items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
    for name, item in items:
        lead = f"{indent}{key(name)}:" if name is not None else f"{indent}-"
        if isinstance(item, (dict, list)) and item:
            if name is None and isinstance(item, dict):
                nested = _lines(item, indent + "  ")
                out.append(f"{lead} {nested[0].lstrip()}")
                out.extend(nested[1:])
            else:
                out.append(lead)
                out.extend(_lines(item, indent + "  "))
        elif isinstance(item, (dict, list)):
            out.append(f"{lead} {'{}' if isinstance(item, dict) else '[]'}")
        elif isinstance(item, str) and "\n" in item:
            out.append(f"{lead} {_block(item, indent + '  ')}")
        else:
            out.append(f"{lead} {scalar(item)}")
    return out


def dump(document: dict[str, Any]) -> str:
    return "\n".join(_lines(document, "")) + "\n"


def dump_all(documents: list[dict[str, Any]]) -> str:
    return "---\n".join(dump(d) for d in documents)
