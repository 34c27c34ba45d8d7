"""The one report model and renderer, and the verify argv the host passes on."""

from __future__ import annotations

import json
import os
import stat
import threading
import time

import pytest

from ptkit.verify.results import (
    FAIL,
    PASS,
    WARN,
    Report,
    describe,
    render_text,
    summary_parts,
    table,
    write_json_atomic,
)


def sample_report() -> Report:
    report = Report(environment={"python": "3.11.7", "torch": "2.13.0", "cuda": "12.8", "driver": "570.1"},
                    invocation=["verify", "--quick"])
    report.add("import:torch", PASS, "torch 2.13.0 imported in 0.90 s", 0.9)
    report.add("threads", WARN, "torch uses 1 thread(s) of 2 usable CPU(s)")
    report.devices.append({"index": 0, "name": "NVIDIA H100 80GB HBM3", "capability": "9.0",
                           "memory_gib": 79.2, "sm_count": 132})
    report.tutorial = {"device": "cuda", "n": 1000, "median_ms": 0.021, "repeats": 10}
    return report


def test_from_dict_is_the_inverse_of_to_dict():
    report = sample_report()
    report.run = {"image": "ptkit:cpu", "variant": "cpu", "image_id": "sha256:" + "ab" * 32}
    data = json.loads(json.dumps(report.to_dict()))
    assert Report.from_dict(data) == report and Report.from_dict(data).to_dict() == data


def test_run_is_emitted_only_when_set_and_invocation_always():
    data = sample_report().to_dict()
    assert "run" not in data and data["invocation"] == ["verify", "--quick"]
    assert list(data)[:7] == ["schema", "ok", "environment", "checks", "devices", "benchmarks", "tutorial"]


def test_from_dict_tolerates_older_and_newer_reports():
    newer = {"schema": "ptkit.verify/1", "ok": False, "environment": {}, "added_later": [1],
             "checks": [{"name": "cuda", "status": "fail", "detail": "x", "seconds": 0.1, "hint": "new"}]}
    older = {"schema": "ptkit.verify/1", "checks": [{"name": "cuda", "status": "pass", "detail": "y"}]}
    assert Report.from_dict(newer).checks[0].status == FAIL and not Report.from_dict(newer).ok
    loaded = Report.from_dict(older)
    assert loaded.checks[0].seconds == 0.0 and loaded.invocation == [] and loaded.run is None


def test_failed_report_has_one_fail_with_a_one_line_cause():
    data = Report.failed("verifier", "no Python interpreter\nin img").to_dict()
    assert data["ok"] is False and data["schema"] == "ptkit.verify/1"
    assert data["checks"] == [{"name": "verifier", "status": "fail", "detail": "no Python interpreter in img",
                               "seconds": 0.0}]


def test_one_renderer_gives_pieces_and_text():
    report = sample_report()
    report.run = {"image": "ptkit:cuda128", "variant": "cuda128", "image_id": "sha256:0123456789abcdef0123"}
    head, rows, tail = summary_parts(report)
    assert head == "ptkit verify: python 3.11.7 | torch 2.13.0 | cuda 12.8 | driver 570.1"
    assert rows[0] == ["status", "check", "detail", "s"] and rows[2][:2] == ["WARN", "threads"]
    assert "device 0: NVIDIA H100 80GB HBM3 sm_90 79.2 GiB, 132 SMs" in tail
    assert "ran in image ptkit:cuda128 (variant cuda128, image id sha256:0123456789ab)" in tail
    assert tail[-1] == "verify: PASS (1 pass, 1 warn, 0 fail, 0 skip)"
    text = render_text(report)
    assert text.splitlines()[0] == head and "Time taken to multiply two matrices on a GPU: 0.021 ms" in text
    assert all(line in text for line in table(rows))


def test_describe_prefers_the_real_cause():
    exc = ImportError("IMPORTANT: PLEASE READ THIS\n\nblah\nOriginal error was: libfoo.so: bad ELF")
    assert describe(exc) == "ImportError: Original error was: libfoo.so: bad ELF"


def test_atomic_write_leaves_no_partial_file(tmp_path):
    path = tmp_path / "r.json"
    write_json_atomic({"a": 1}, str(path))
    with pytest.raises(TypeError):
        write_json_atomic({"a": object()}, str(path))
    assert json.loads(path.read_text()) == {"a": 1} and sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


# --- --report FILE and what is at FILE (issue 19: a special file is never replaced) ----------------

def test_a_character_device_is_written_through_and_stays_a_device(tmp_path):
    if os.getuid() != 0:
        pytest.skip("mknod of a character device needs root")
    node = tmp_path / "devnull"
    os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a private null device, as in the repro
    write_json_atomic({"a": 1}, str(node))
    after = node.lstat()
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == os.makedev(1, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["devnull"]


def test_a_fifo_with_a_reader_gets_the_document_and_stays_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    deadline = time.monotonic() + 10
    while True:  # the reader opens the FIFO in its thread; write once it is there
        try:
            write_json_atomic({"a": 1}, str(fifo))
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    reader.join(10)
    assert json.loads(got[0]) == {"a": 1} and stat.S_ISFIFO(fifo.lstat().st_mode)


def test_a_fifo_nobody_reads_is_refused_at_once_not_waited_on(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    start = time.monotonic()
    with pytest.raises(OSError) as caught:
        write_json_atomic({"a": 1}, str(fifo))
    assert caught.value.strerror == "a FIFO that nobody reads" and time.monotonic() - start < 5
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_a_symlink_stays_a_link_and_its_target_is_replaced(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old\n")
    link = tmp_path / "latest.json"
    link.symlink_to(target.name)
    write_json_atomic({"a": 1}, str(link))
    assert link.is_symlink() and os.readlink(link) == "real.json"
    assert json.loads(target.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.json", "real.json"]


def test_a_symlink_to_a_device_writes_through_it(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    (tmp_path / "link").symlink_to(fifo)
    with pytest.raises(OSError, match="nobody reads"):  # reached the FIFO through the link, did not replace it
        write_json_atomic({"a": 1}, str(tmp_path / "link"))
    assert (tmp_path / "link").is_symlink() and stat.S_ISFIFO(fifo.lstat().st_mode)


@pytest.mark.parametrize("kind", ["folder", "block device"])
def test_a_folder_or_a_block_device_is_refused_in_one_line(tmp_path, kind):
    path = tmp_path / "target"
    if kind == "folder":
        path.mkdir()
    elif os.getuid() != 0:
        pytest.skip("mknod of a block device needs root")
    else:  # a device number no driver claims (240-254 are for local use): refused before any open
        os.mknod(path, 0o600 | stat.S_IFBLK, os.makedev(240, 99))
    before = path.lstat()
    with pytest.raises(OSError) as caught:
        write_json_atomic({"a": 1}, str(path))
    assert caught.value.strerror.startswith(f"it is a {kind}; a report goes to a file")
    assert path.lstat().st_mode == before.st_mode and sorted(p.name for p in tmp_path.iterdir()) == ["target"]


def test_a_missing_parent_is_made_and_a_file_parent_is_refused(tmp_path):
    write_json_atomic({"a": 1}, str(tmp_path / "new" / "dir" / "r.json"))
    assert json.loads((tmp_path / "new" / "dir" / "r.json").read_text()) == {"a": 1}
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError) as caught:
        write_json_atomic({"a": 1}, str(tmp_path / "file" / "r.json"))
    assert caught.value.strerror == "a part of the path is not a folder"
