"""ptkit.repro.layerdiff: real layer tars (tarfile) read as streams, images in an engine stand-in
(tests/utils/engine_standin.py, which streams a real `docker save` tar; no engine in unit tests: the real
export is read by tests/docker/test_reproduce.py)."""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest

from ptkit.docker_api import ChunkStream
from ptkit.errors import PtkitError
from ptkit.repro import layerdiff
from tests.utils.engine_standin import Engine, digest, file_info, layer, tar_bytes

NAMES = ("IMG", "REBUILD")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stream(data: bytes) -> io.BufferedReader:
    """Unseekable, in small chunks: as the engine's export arrives."""
    return io.BufferedReader(ChunkStream(iter([data[i:i + 700] for i in range(0, len(data), 700)])))


def test_hashing_passes_the_bytes_through_and_digests_them() -> None:
    data = bytes(range(256)) * 40
    hashing = layerdiff.Hashing(io.BytesIO(data))
    assert hashing.readable()
    assert hashing.read(100) + hashing.read() == data
    assert hashing.sha.hexdigest() == sha(data)


def member(name: str, kind: bytes, **fields: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def test_each_entry_s_type_mode_owner_link_time_and_content() -> None:
    big = b"z" * ((1 << 20) + 3)  # more than one read block
    data = tar_bytes([
        (member("opt", tarfile.DIRTYPE, mode=0o755, uid=0, gid=0, mtime=7), None),
        (member("opt/a.py", tarfile.REGTYPE, mode=0o640, uid=1000, gid=100, mtime=5), b"print(1)\n"),
        (member("opt/big.so", tarfile.REGTYPE, mode=0o755, mtime=6), big),
        (member("opt/link", tarfile.SYMTYPE, mode=0o777, linkname="a.py", mtime=8), None),
        (member("opt/hard", tarfile.LNKTYPE, mode=0o640, linkname="opt/a.py", mtime=9), None),
    ])
    assert layerdiff.entries(stream(data)) == {
        "opt": ("5", 0o755, 0, 0, "", 7, ""),
        "opt/a.py": ("0", 0o640, 1000, 100, "", 5, sha(b"print(1)\n")),
        "opt/big.so": ("0", 0o755, 0, 0, "", 6, sha(big)),
        "opt/link": ("2", 0o777, 0, 0, "a.py", 8, ""),
        "opt/hard": ("1", 0o640, 0, 0, "opt/a.py", 9, ""),
    }


BASE = layer({"etc/os-release": b"ID=debian\n"})
VENV = layer({"opt/venv/torch.py": b"v = 1\n"}, mtime=2)
APP = layer({"opt/app/x": b"x\n", "opt/app/y": b"y\n"}, mtime=3)
HISTORY = [  # `docker history`, newest first
    {"CreatedBy": "|1 FLAVOR=runtime /bin/sh -c   cp -r /src   /opt/app", "Size": 12},
    {"CreatedBy": "/bin/sh -c #(nop)  LABEL ptkit.variant=cpu", "Size": 0},
    {"CreatedBy": "/bin/sh -c #(nop) COPY dir:abc in /opt/venv", "Size": 99},
    {"CreatedBy": "/bin/sh -c true", "Size": 0},  # a step that changed nothing still made a layer
    {"CreatedBy": "/bin/sh -c uv pip install " + "torch==2.9.0 " * 12, "Size": 5000},
    {"CreatedBy": "/bin/sh -c #(nop)  CMD [\"bash\"]"},
    {"CreatedBy": "/bin/sh -c #(nop) ADD file:1234 in / ", "Size": 74},
]
STEPS = ["/bin/sh -c #(nop) ADD file:1234 in /",
         ("/bin/sh -c uv pip install " + "torch==2.9.0 " * 12)[:100],
         "/bin/sh -c true",
         "/bin/sh -c #(nop) COPY dir:abc in /opt/venv",
         "|1 FLAVOR=runtime /bin/sh -c cp -r /src /opt/app"]


def test_steps_are_the_history_entries_that_made_a_layer_bottom_first() -> None:
    engine = Engine()
    image = engine.add("img:1", steps=HISTORY)
    assert layerdiff.steps(image) == STEPS
    assert len(STEPS[1]) == 100


def test_the_layer_is_found_by_its_id_among_the_image_s_layers() -> None:
    engine = Engine()
    image = engine.add("img:1", layers=[BASE, VENV, APP, VENV])  # VENV twice: its second copy is a link
    assert [layerdiff.layer_entries(engine, "img:1", digest(data)) for data in (BASE, APP, VENV)] == [
        {"etc/os-release": ("0", 0o644, 0, 0, "", 1, sha(b"ID=debian\n"))},
        {"opt/app/x": ("0", 0o644, 0, 0, "", 3, sha(b"x\n")), "opt/app/y": ("0", 0o644, 0, 0, "", 3, sha(b"y\n"))},
        {"opt/venv/torch.py": ("0", 0o644, 0, 0, "", 2, sha(b"v = 1\n"))}]
    assert ("get_image", image.id, 1 << 20) in engine.calls  # the export asked for in 1 MiB chunks


def test_engines_25_and_later_export_each_layer_as_a_blob_named_by_its_id() -> None:
    engine = Engine(oci=True)
    engine.add("img:1", layers=[BASE, VENV, BASE])
    assert layerdiff.layer_entries(engine, "img:1", digest(VENV)) == {
        "opt/venv/torch.py": ("0", 0o644, 0, 0, "", 2, sha(b"v = 1\n"))}


@pytest.mark.parametrize("oci", [False, True])
def test_a_layer_the_export_does_not_hold_is_one_line_not_an_empty_layer(oci: bool) -> None:
    engine = Engine(oci=oci)
    engine.add("img:1", layers=[BASE])
    with pytest.raises(PtkitError) as caught:
        layerdiff.layer_entries(engine, "img:1", "sha256:" + "0" * 64)
    assert str(caught.value) == (
        "layer sha256:000000000000… of img:1 is not in the engine's export as an uncompressed tar: a save format "
        "ptkit does not read (it reads the export of the engine's own image store, not containerd's)")


def test_a_layer_s_id_counts_the_end_blocks_the_tar_reader_leaves_unread() -> None:
    """A 5 MiB layer whose last entry ends where both the reader's 10 KiB records and the 1 MiB buffer end:
    the end-of-archive blocks after it are only read by draining the stream."""
    data = tar_bytes([(file_info("blob"), b"b" * (5 * (1 << 20) - 1024))])
    engine = Engine()
    engine.add("img:1", layers=[data])
    assert layerdiff.layer_entries(engine, "img:1", digest(data)) == {
        "blob": ("0", 0o644, 0, 0, "", 1, sha(b"b" * (5 * (1 << 20) - 1024)))}


A = {"same": ("0", 0o644, 0, 0, "", 1, "aa"), "gone": ("0", 0o644, 0, 0, "", 1, "bb"),
     "many": ("0", 0o644, 0, 0, "", 1, "cc"), "link": ("2", 0o777, 0, 0, "x", 1, "")}
B = {"same": ("0", 0o644, 0, 0, "", 1, "aa"), "added": ("5", 0o755, 0, 0, "", 1, ""),
     "many": ("0", 0o600, 1, 2, "", 3, "dd"), "link": ("2", 0o777, 0, 5, "y", 1, "")}


def test_differing_names_each_path_in_order_and_the_fields_that_differ() -> None:
    assert layerdiff.differing(A, B, NAMES) == [
        ("added", "only in REBUILD"), ("gone", "only in IMG"), ("link", "gid, link"),
        ("many", "mode, uid, gid, mtime, content")]
    assert layerdiff.differing(A, A, NAMES) == []


def two_images(a: list[bytes], b: list[bytes]) -> Engine:
    engine = Engine()
    engine.add("a:1", image_id="sha256:" + "a" * 64, layers=a, steps=HISTORY)
    engine.add("b:1", image_id="sha256:" + "b" * 64, layers=b, steps=HISTORY[:1])
    return engine


APP2 = layer({"opt/app/x": b"x2\n", "opt/app/z": b"z\n"}, mtime=3)


@pytest.mark.parametrize(("a", "b", "expected"), [
    ([BASE, VENV, APP], [BASE, VENV, APP2], layerdiff.Difference(2, STEPS[2], [
        ("opt/app/x", "content"), ("opt/app/y", "only in IMG"), ("opt/app/z", "only in REBUILD")])),
    ([BASE, VENV], [BASE], layerdiff.Difference(1, STEPS[1], [("opt/venv/torch.py", "only in IMG")])),
    ([BASE], [BASE, VENV], layerdiff.Difference(1, "?", [("opt/venv/torch.py", "only in REBUILD")])),
    ([VENV, APP], [BASE, APP], layerdiff.Difference(0, STEPS[0], [
        ("etc/os-release", "only in REBUILD"), ("opt/venv/torch.py", "only in IMG")])),
])
def test_the_first_layer_whose_ids_differ_is_compared_file_by_file(a: list[bytes], b: list[bytes],
                                                                    expected: layerdiff.Difference) -> None:
    assert layerdiff.first_difference(two_images(a, b), "sha256:" + "a" * 64, "sha256:" + "b" * 64, NAMES) == expected


def test_images_with_the_same_layers_have_no_difference() -> None:
    engine = two_images([BASE, VENV], [BASE, VENV])
    assert layerdiff.first_difference(engine, "sha256:" + "a" * 64, "sha256:" + "b" * 64, NAMES) is None
    assert engine.calls == []  # nothing exported
    assert layerdiff.render(None, NAMES) == ["layers: IMG and REBUILD have the same layers"]


@pytest.mark.parametrize(("count", "limit", "tail"), [
    (3, 3, []),
    (4, 3, ["  ... and 1 more"]),
    (21, None, ["  ... and 1 more"]),  # the default limit: 20
])
def test_render_lists_the_paths_up_to_the_limit(count: int, limit: int | None, tail: list[str]) -> None:
    paths = [(f"p{i:02}", "content") for i in range(count)]
    shown = min(count, limit or 20)
    lines = layerdiff.render(layerdiff.Difference(4, "RUN make", paths), NAMES,
                             **({"limit": limit} if limit else {}))
    assert lines == [f"layers: first difference at layer 4 (RUN make): {count} path(s)",
                     *[f"  p{i:02}: content" for i in range(shown)], *tail]
