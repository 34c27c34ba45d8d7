"""Write an image's manifest (/etc/ptkit/manifest.json): what is in it and where it came from.

Run at the end of an image build, in the image's own filesystem (standard library only):

  python3 /build/manifest.py --venv /opt/venv --provenance /build/provenance.json \
      --lock /build/requirements.lock --ptkit /opt/ptkit --out /etc/ptkit/manifest.json

provenance.json is written by the host (ptkit.provenance): variant, source, flavor, the matrix
entry, ptkit's revision and version, the creation time, the base image's reference and id, the lock's name.
The lock may be empty (a build without one). The distributions and the fingerprint come from ptkit's
own in-image modules (ptkit.verify.inventory, ptkit.verify.fingerprint), so the drift check and
`ptkit fingerprint` compare like with like.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import re
import sys
from typing import Any

SCHEMA = "ptkit.manifest/1"
def lock_hashes(text: str) -> dict[str, list[str]]:
    """{name: [sha256, ...]} of a hash-pinned requirements file (continuation lines joined)."""
    hashes: dict[str, list[str]] = {}
    for entry in text.replace("\\\n", " ").splitlines():
        match = re.match(r"\s*([A-Za-z0-9._-]+)==\S+", entry)
        if match:
            name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
            hashes[name] = re.findall(r"--hash=sha256:([0-9a-f]{64})", entry)
    return hashes


def recorded_hashes(site: str, name: str, version: str) -> list[str]:
    """The sha256 pip recorded in direct_url.json when it installed a wheel from a file or URL."""
    for info in glob.glob(os.path.join(site, "*.dist-info")):
        base = os.path.basename(info)[: -len(".dist-info")]
        dist, _, ver = base.rpartition("-")
        if re.sub(r"[-_.]+", "-", dist).lower() == name and ver == version:
            try:
                with open(os.path.join(info, "direct_url.json")) as fh:
                    archive = json.load(fh).get("archive_info", {})
            except (OSError, ValueError):
                return []
            digest = archive.get("hashes", {}).get("sha256") or archive.get("hash", "").partition("sha256=")[2]
            return [digest] if digest else []
    return []


def python_packages(venv: str, lock_text: str) -> dict[str, dict[str, Any]]:

    sites = sorted(glob.glob(os.path.join(venv, "lib", "python3*", "site-packages")))
    from ptkit.verify.inventory import installed_distributions

    locked = lock_hashes(lock_text)
    packages = {}
    for name, info in installed_distributions(sites).items():
        hashes, source = locked.get(name, []), "lock"
        if not hashes:
            hashes = [h for site in sites for h in recorded_hashes(site, name, info["version"])]
            source = "direct_url" if hashes else "unknown"
        packages[name] = {"version": info["version"], "record": info["record"], "sha256": hashes,
                          "hash_source": source}
    return packages


def venv_python(venv: str) -> str | None:
    """The venv's Python version as pyvenv.cfg records it."""
    with open(os.path.join(venv, "pyvenv.cfg")) as fh:
        for text in fh:
            key, _, value = text.partition("=")
            if key.strip() in ("version", "version_info"):
                return value.strip()
    return None


def manifest(args: argparse.Namespace) -> dict[str, Any]:
    from ptkit.verify.fingerprint import fingerprint
    from ptkit.verify.inventory import debian_packages, torch_facts

    with open(args.provenance) as fh:
        build = json.load(fh)
    lock_text = ""
    if args.lock and os.path.isfile(args.lock):
        with open(args.lock) as fh:
            lock_text = fh.read()
    build["lock_sha256"] = hashlib.sha256(lock_text.encode()).hexdigest() if lock_text else None
    build["flavor"] = os.environ.get("PTKIT_FLAVOR")  # the image's own: one provenance.json serves both
    return {
        "schema": SCHEMA,
        "build": build,
        "python": {"venv": args.venv, "version": venv_python(args.venv),
                   "packages": python_packages(args.venv, lock_text)},
        "debian": {"packages": debian_packages()},
        "torch": torch_facts(os.path.join(args.venv, "bin", "python")),
        # Last: every file it covers is in place by now (the manifest itself is excluded from it).
        "fingerprint": fingerprint(args.root or None, exclude=[args.out]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a ptkit image manifest.")
    parser.add_argument("--venv", default="/opt/venv")
    parser.add_argument("--provenance", required=True, help="JSON written by the host into the build context")
    parser.add_argument("--lock", help="the hash-pinned lock the venv was installed from (may be empty)")
    parser.add_argument("--ptkit", default="/opt/ptkit", help="where the ptkit package is (its fingerprint code)")
    parser.add_argument("--out", default="/etc/ptkit/manifest.json")
    parser.add_argument("--root", action="append", help="a fingerprint root (default: the fingerprint's roots)")
    args = parser.parse_args(argv)
    sys.path.insert(0, args.ptkit)
    # Before fingerprinting: the image will have this directory, so the fingerprint must see it.
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    data = manifest(args)
    with open(args.out, "w") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
        fh.write("\n")
    os.chmod(args.out, 0o644)
    fp = data["fingerprint"]
    print(f"ptkit: manifest {args.out}: {len(data['python']['packages'])} Python and "
          f"{len(data['debian']['packages'] or {})} Debian packages, fingerprint {fp['digest']} ({fp['files']} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
