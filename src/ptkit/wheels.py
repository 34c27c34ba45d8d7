"""Before a build: a wheelhouse, every wheel a variant needs downloaded with the host's pip
configuration (offline builds install only from it), the hash lock of exactly those wheels, and
the pinned uv wheel that installs them (outside the lock: it never reaches the image).
"""

from __future__ import annotations

import hashlib
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import PtkitError
from .images import DEFAULT_PLATFORM, Platform
from .inputs import UV_VERSION
from .locks import lock_text, run_pip, target_args, unreachable
from .matrix import Variant
from .userfiles import MadeFolders


@dataclass(frozen=True)
class Indexes:
    """Where pip downloads from besides the host's configuration: --index-url, --extra-index-url, the row's own."""

    index_url: str | None = None
    extra_index_url: str | None = None
    use_variant_index: bool = False


def wheelhouse(variant: Variant, requirements: list[str], dest: Path, *, indexes: Indexes = Indexes(),
               lock: Path | None = None, platform: Platform = DEFAULT_PLATFORM) -> Path:
    """Download every wheel the variant needs with the host's pip configuration; write a hash lock.

    With `lock`, download exactly the lock's files (hashes checked) instead of resolving anew. A platform other
    than the default takes a lock (`ptkit lock --platform`): pip resolves markers for this host, not the image.
    """
    if platform != DEFAULT_PLATFORM and lock is None:
        raise PtkitError(f"a wheelhouse for {platform.name} downloads a lock's wheels: pass --lock (made by "
                         f"`ptkit lock {variant.name} --platform {platform.name}`)")
    if dest.exists() and not dest.is_dir():
        raise PtkitError(f"{dest}: exists and is not a folder")
    made = MadeFolders(dest)
    try:
        return _fill(variant, requirements, dest, indexes, lock, platform)
    except BaseException:  # a failure or an interrupt: a folder this run made goes again, nothing is left
        made.remove()
        raise


def _fill(variant: Variant, requirements: list[str], dest: Path, indexes: Indexes, lock: Path | None,
          platform: Platform) -> Path:
    index_url, use_variant_index = indexes.index_url, indexes.use_variant_index
    cmd = [
        sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--dest", str(dest),
        *target_args(variant, platform),
    ]
    if index_url:
        from .inputs import index_answers

        if not index_url.startswith("file://") and (why := index_answers(index_url, None)):
            raise PtkitError(f"the package index {index_url} does not answer ({why}); nothing was downloaded")
        cmd += ["--index-url", index_url]
    for extra in filter(None, [indexes.extra_index_url, variant.index_url if use_variant_index else None]):
        cmd += ["--extra-index-url", extra]
    wanted = ["--no-deps", "--require-hashes", "-r", str(lock)] if lock else requirements
    stdout = _download([*cmd, *wanted], dest, "" if use_variant_index else variant.index_url)
    # Lock what pip chose this time, not whatever else an older run left in the folder.
    files = [Path(f) for f in re.findall(r"^\s*(?:Saved|File was already downloaded) (.+?)\s*$", stdout, re.M)]
    if not files:
        raise PtkitError(f"pip download reported no wheels saved in {dest}: nothing to lock")
    out = dest / "requirements.lock"
    what = f"the lock {lock}" if lock else " ".join(requirements)
    entries = [(f.name.split("-")[0], f.name.split("-")[1], sha256_file(f)) for f in files]
    out.write_text(lock_text(entries, f"`ptkit wheelhouse` for variant {platform.named(variant.image_name)}: {what}, "
                                      f"python {variant.python}"))
    return out


def download_failure(stderr: str, code: int, dest: Path, variant_index: str, index: str = "") -> str:
    """pip's reason in one line: what it could not find, else the OS error that ended it, else its last line."""
    lines = stderr.strip().splitlines()
    os_error = next((ln for ln in reversed(lines) if re.match(r"^(OSError|IOError|PermissionError)\b", ln)), None)
    if os_error:  # a full disk, a read-only destination: the user's to fix, no index to blame
        return f"pip download into {dest} failed: {os_error.split(': ', 1)[-1]}"
    if why := unreachable(stderr, index or "of pip's configuration"):
        return why
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    found = [ln for ln in errors if "Could not find" in ln or "No matching" in ln] or errors[-1:] or lines[-1:]
    hint = f" (try --use-variant-index to add {variant_index})" if variant_index else ""
    return f"pip download failed: {' '.join(found)[:300] or f'exit {code}'}{hint}"


def add_uv(variant: Variant, dest: Path, index_url: str | None = None, platform: Platform = DEFAULT_PLATFORM) -> bool:
    """Put the pinned uv wheel (hash-checked) into the wheelhouse, outside its lock: the builder stage installs
    the lock with it (`--installer uv`). False, with the reason on stderr, when pip cannot get it."""
    with tempfile.TemporaryDirectory(prefix="ptkit-uv-") as tmp:
        requirement = Path(tmp, "uv.txt")
        requirement.write_text(platform.uv_requirement + "\n")
        cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--dest", str(dest),
               *target_args(variant, platform), *(["--index-url", index_url] if index_url else []),
               "--no-deps", "--require-hashes", "-r", str(requirement)]
        try:
            _download(cmd, dest, "")
        except PtkitError as exc:
            print(f"ptkit wheelhouse: no uv {UV_VERSION} wheel ({exc}): build from this wheelhouse with "
                  "--installer pip", file=sys.stderr)
            return False
    return True


def _download(cmd: list[str], dest: Path, variant_index: str) -> str:
    """pip download's stdout; a failure is one line (download_failure)."""
    index = cmd[cmd.index("--index-url") + 1] if "--index-url" in cmd else ""
    proc = run_pip(cmd)
    if proc.returncode != 0:
        raise PtkitError(download_failure(proc.stderr, proc.returncode, dest, variant_index, index))
    return proc.stdout


def sha256_file(path: Path) -> str:
    """Hash in blocks: CUDA wheels are GBs, no reason to hold one in memory."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
