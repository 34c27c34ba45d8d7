"""Layer tars clamped in place and `docker save` streams rewritten (layers.py, normalize.py), without an engine.

What is expected is stated through Python's own tarfile reader and hashlib, not through the code under test:
a clamped layer reads back with the same members, contents and sizes, no mtime after the epoch, and two layers
that differed only in build-time mtimes come out byte for byte equal.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest

from ptkit import layers, normalize
from ptkit.errors import PtkitError

EPOCH = 1_700_000_000
LONG = "opt/venv/lib/python3.11/site-packages/" + "deep/" * 20 + "module.py"  # > 100 bytes: PAX, GNU or prefix


def layer(mtime: int, fmt: int = tarfile.PAX_FORMAT, extra: dict[str, str] | None = None) -> bytes:
    """A small layer as a builder writes one: a directory, files (one with a long name), a symlink, a hard
    link, every entry stamped `mtime`."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        def add(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mtime, info.size, info.linkname, info.mode = kind, mtime, len(data), link, 0o644
            info.pax_headers = dict(extra or {}) if name == "opt/venv/a.txt" else {}
            tar.addfile(info, io.BytesIO(data) if data else None)

        add("opt/venv", tarfile.DIRTYPE)
        add("opt/venv/a.txt", data=b"a" * 700)
        add(LONG, data=b"print('hi')\n")
        add("opt/venv/link", tarfile.SYMTYPE, link="a.txt")
        add("opt/venv/hard", tarfile.LNKTYPE, link="opt/venv/a.txt")
        add("opt/venv/empty")
    return out.getvalue()


def clamped(data: bytes, epoch: int = EPOCH) -> tuple[bytes, bytes]:
    pieces = list(layers.clamp(io.BytesIO(data), len(data), epoch))
    return b"".join(a for a, _ in pieces), b"".join(b for _, b in pieces)


def members(data: bytes) -> list[tuple[str, bytes, int, str, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return [(m.name, m.type, m.mtime, m.linkname,
                 tar.extractfile(m).read() if m.isfile() else b"") for m in tar]  # type: ignore[union-attr]


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT],
                         ids=["pax", "gnu", "ustar"])
def test_two_layers_differing_in_build_time_mtimes_come_out_equal_byte_for_byte(fmt):
    a, b = layer(EPOCH + 100, fmt), layer(EPOCH + 9999, fmt)
    assert a != b
    original, out_a = clamped(a)
    assert original == a and len(out_a) == len(a)  # in place: the layer's size is unchanged
    assert out_a == clamped(b)[1]
    assert [m[2] for m in members(out_a)] == [EPOCH] * 6
    assert [(n, t, ln, d) for n, t, _, ln, d in members(out_a)] == [(n, t, ln, d) for n, t, _, ln, d in members(a)]


def test_times_at_or_before_the_epoch_are_kept_as_they_are():
    old = layer(EPOCH - 5)
    assert clamped(old)[1] == old


def test_a_clamped_layer_is_a_valid_tar_for_python_and_for_gnu_tar(tmp_path):
    import shutil
    import subprocess

    _, out = clamped(layer(EPOCH + 1))
    (tmp_path / "layer.tar").write_bytes(out)
    if shutil.which("tar"):
        listing = subprocess.run(["tar", "-tvf", str(tmp_path / "layer.tar"), "--full-time", "--utc"],
                                 capture_output=True, text=True, check=True).stdout
        assert listing.count("2023-11-14 22:13:20") == 6, listing  # EPOCH as a date, on every entry


def test_base_256_mtimes_are_read_and_clamped():
    data = bytearray(layer(EPOCH + 1, tarfile.GNU_FORMAT))
    header = data[:512]
    header[layers.MTIME] = b"\x80" + (EPOCH + 50).to_bytes(11, "big")  # the GNU encoding of large numbers
    header[layers.CHECKSUM] = b"%06o\0 " % layers.checksum(header)
    data[:512] = header
    _, out = clamped(bytes(data))
    assert members(out)[0][2] == EPOCH


def test_a_pax_time_record_is_refused_not_passed_through():
    with pytest.raises(PtkitError, match="PAX time records"):
        clamped(layer(EPOCH + 1, extra={"mtime": f"{EPOCH + 1}.5"}))


def test_a_block_that_is_not_a_tar_header_is_refused():
    data = bytearray(layer(EPOCH + 1))
    data[0] ^= 0x01  # the first header's name: its checksum no longer adds up
    with pytest.raises(PtkitError, match="checksum"):
        clamped(bytes(data))


def test_a_stream_cut_short_is_one_error():
    data = layer(EPOCH + 1)
    with pytest.raises(PtkitError, match="ended early"):
        list(layers.clamp(io.BytesIO(data[:1500]), len(data), EPOCH))


# --- the docker save stream ---------------------------------------------------------------------

def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def save_stream(base: bytes, own: bytes, created: str) -> bytes:
    """A `docker save` archive as the engine writes it: config first, layer folders, manifest.json last."""
    config = {"architecture": "amd64", "created": created, "container": "c0ffee",
              "container_config": {"Hostname": "c0ffee"}, "config": {"Image": "sha256:parent", "Env": ["A=1"]},
              "history": [{"created": "2020-01-01T00:00:00Z", "comment": "base"},
                          {"created": created, "created_by": "RUN make"}],
              "rootfs": {"type": "layers", "diff_ids": [sha(base), sha(own)]}}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        manifest = [{"Config": "cfg.json", "RepoTags": ["x:y"], "Layers": ["aaa/layer.tar", "bbb/layer.tar"]}]
        files = {"cfg.json": json.dumps(config).encode(), "aaa/layer.tar": base, "bbb/layer.tar": own,
                 "bbb/json": b"{}", "manifest.json": json.dumps(manifest).encode()}
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def normalized(stream: bytes, base: bytes) -> tuple[dict[str, bytes], str]:
    found = normalize.Export()
    body = b"".join(normalize.rewrite(io.BufferedReader(io.BytesIO(stream)), EPOCH, found))
    tail, image_id = normalize.finish(found, normalize.Epoch(EPOCH, "2023-11-14T22:13:20Z"), ([sha(base)], 1))
    with tarfile.open(fileobj=io.BytesIO(body + tail)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar}, image_id  # type: ignore[union-attr]


def test_a_saved_image_is_rewritten_into_an_archive_docker_load_takes():
    base = layer(EPOCH + 500)  # a base made after the commit: its layer is the base's, kept as it is
    files, image_id = normalized(save_stream(base, layer(EPOCH + 1000), "2026-12-03T06:00:00.123Z"), base)
    manifest = json.loads(files["manifest.json"])[0]
    config_bytes = files[manifest["Config"]]
    assert image_id == sha(config_bytes)  # the engine names an image by its config's digest
    config = json.loads(config_bytes)
    assert config["created"] == "2023-11-14T22:13:20Z"
    assert [h["created"] for h in config["history"]] == ["2020-01-01T00:00:00Z", "2023-11-14T22:13:20Z"]
    assert "container" not in config and "container_config" not in config and config["config"]["Image"] == ""
    assert config["config"]["Env"] == ["A=1"]
    # the base's layer keeps its id; the image's own layer is named by the digest of the bytes sent
    assert config["rootfs"]["diff_ids"] == [sha(base), sha(files["bbb/layer.tar"])]
    assert {m[2] for m in members(files["bbb/layer.tar"])} == {EPOCH}
    assert manifest["Layers"] == ["aaa/layer.tar", "bbb/layer.tar"] and manifest["RepoTags"] is None
    assert "bbb/json" not in files


def test_two_builds_differing_in_times_only_get_one_image_id():
    base = layer(EPOCH - 10)
    first = normalized(save_stream(base, layer(EPOCH + 60), "2026-12-03T06:00:00Z"), base)[1]
    second = normalized(save_stream(base, layer(EPOCH + 7200), "2026-12-03T08:00:00.5Z"), base)[1]
    other = layer(EPOCH + 60).replace(b"a" * 700, b"b" * 700)  # one file's content changed
    changed = normalized(save_stream(base, other, "2026-12-03T06:00:00Z"), base)[1]
    assert first == second
    assert changed != first
