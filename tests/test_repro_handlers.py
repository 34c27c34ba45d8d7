"""The `ptkit manifest|diff|reproduce|fingerprint|sbom` handlers run in-process through ptkit.cli.main; register().

The Docker engine is out of reach of a test that mutation testing runs once per mutant, so it is replaced at the
module boundary: `commands._client` returns a sentinel object, and images.manifest/image/run_module,
docker_api.ensure_image, layerdiff.first_difference, reproduce.rebuild, fingerprint.compute are
small recorders that check what they are given (the sentinel, the image ref, the options in order) and answer in
the shapes the real functions return (images.py: the manifest dict or None, an image with .id, run_module's
stdout; layerdiff.Difference; reproduce.Recorded; fingerprint.Fingerprint). The real engine runs these commands in
tests/docker/test_repro.py (manifest, fingerprint, diff, sbom of a built image) and
tests/docker/test_reproduce.py (a real rebuild). Everything else (snapshot, diff,
render, the cyclonedx library and its validator) is real. `ptkit conda-lock` is in tests/test_repro_conda.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ptkit import cli, docker_api
from ptkit.repro import commands, fingerprint, images, layerdiff, reproduce
from ptkit.verify import inventory

ROOT = Path(__file__).resolve().parents[1]
API = object()  # what _client() returns; every recorder checks it gets this very object
REV = "0123456789abcdef0123456789abcdef01234567"
BUILD = {"variant": "cuda126", "source": "pypi", "flavor": "runtime", "revision": REV, "created": "2026-12-01T10:00Z",
         "base_image": {"ref": "debian:bookworm-slim", "id": "sha256:" + "b" * 64},
         "lock": "locks/cuda126.txt", "lock_sha256": "c" * 64}
MANIFEST = {
    "schema": "ptkit.manifest/1", "build": BUILD, "fingerprint": {"digest": "sha256:" + "f" * 64},
    "torch": {"torch": "2.13.0+cu126", "cuda": "12.6", "cudnn": 90100, "nccl": "2.21.5",
              "arch_list": ["sm_80", "sm_90"]},
    "python": {"packages": {"torch": {"version": "2.13.0+cu126", "sha256": ["a" * 64, "e" * 64]},
                            "numpy": {"version": "2.1.0", "sha256": []}}},
    "debian": {"packages": {"zlib1g": {"version": "1:1.2.13", "arch": "amd64"},
                            "libc6:arm64": {"version": "2.36-9", "arch": "arm64"}}},
}


def ptkit(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], list[str]]:
    """(exit code, stdout lines, stderr lines) of `ptkit ARGV` run in this process."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


def image_id(ref: str) -> str:
    """The stand-in engine's image id of `ref`: sha256: and 64 hex digits, as Docker's."""
    return "sha256:" + ref.encode().hex().ljust(64, "0")


def fake(seen: list[Any], answer: Any) -> Any:
    """A recorder: each call's arguments go to `seen`; `answer(*args)` is what it returns."""
    def call(*args: Any, **kwargs: Any) -> Any:
        seen.append((*args, *kwargs.items()))
        return answer(*args)
    return call


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """_client -> API; images.manifest/image record their calls (the tests check each got API and the ref);
    run_module fails the test unless the test replaces it (only a live read runs a container)."""
    seen: dict[str, list[Any]] = {"manifest": [], "image": [], "run_module": []}
    manifests: dict[str, Any] = {"ptkit:cuda126": MANIFEST, "ptkit:bare": None, "ptkit:empty": {}}
    monkeypatch.setattr(commands, "_client", lambda: API)
    monkeypatch.setattr(images, "manifest", fake(seen["manifest"], lambda api, ref: manifests[ref]))
    monkeypatch.setattr(images, "image", fake(seen["image"], lambda api, ref: SimpleNamespace(id=image_id(ref))))
    monkeypatch.setattr(images, "run_module", fake(seen["run_module"], lambda *a: pytest.fail(f"run_module{a}")))
    return seen


def test_manifest_prints_the_build_record_torch_facts_and_sorted_packages(engine, capsys) -> None:
    assert ptkit(capsys, "manifest", "ptkit:cuda126") == (0, [
        f"ptkit:cuda126: variant cuda126 (pypi, runtime), ptkit {REV}, created 2026-12-01T10:00Z",
        f"base debian:bookworm-slim (sha256:{'b' * 64}), lock locks/cuda126.txt (sha256 {'c' * 64})",
        "torch 2.13.0+cu126 cuda 12.6 cudnn 90100 nccl 2.21.5 arch sm_80 sm_90",
        f"fingerprint sha256:{'f' * 64}",
        "python  numpy 2.1.0",
        f"python  torch 2.13.0+cu126  sha256:{'a' * 64}",  # the first wheel hash only
        "debian  libc6:arm64 2.36-9",
        "debian  zlib1g 1:1.2.13",
    ], [])
    assert engine["manifest"] == [(API, "ptkit:cuda126")]


def test_manifest_of_an_empty_record_says_none_and_dash(engine, capsys) -> None:
    assert ptkit(capsys, "manifest", "ptkit:empty") == (0, [
        "ptkit:empty: variant None (None, None), ptkit None, created None",
        "base None (None), lock None (sha256 None)",
        "torch None cuda None cudnn None nccl None arch -",
        "fingerprint None",
    ], [])


def test_manifest_json_is_sorted_and_indented_by_two(engine, capsys, monkeypatch) -> None:
    monkeypatch.setattr(images, "manifest", lambda api, ref: {"torch": {"cuda": None}, "build": {"arch": [1]}})
    assert ptkit(capsys, "manifest", "ptkit:x", "--json") == (0, [
        "{", '  "build": {', '    "arch": [', "      1", "    ]", "  },", '  "torch": {', '    "cuda": null', "  }",
        "}"], [])


def test_manifest_of_an_image_without_one_is_one_error_line(engine, capsys) -> None:
    assert ptkit(capsys, "manifest", "ptkit:bare") == (1, [], [
        "ptkit manifest: error: ptkit:bare has no manifest (not a ptkit image, or built before manifests)"])


def live(demo: str, cudnn: int) -> str:
    """inventory.py's stdout in an image (installed_distributions, debian_packages, torch_facts)."""
    return json.dumps({"python": {"demo": {"version": demo, "record": "r"}},
                       "debian": {"bash": {"version": "5.2", "arch": "amd64"}},
                       "torch": {"torch": "2.13.0", "cuda": None, "cudnn": cudnn, "nccl": None, "arch_list": []}})


@pytest.mark.parametrize(("b", "code", "changes"), [
    ("ptkit:a", 0, ["identical"]),
    ("ptkit:b", 1, ["python: changed demo 1.0 -> 1.1", "facts: changed cudnn 9.1.0 -> 9.24.0",
                    "fingerprint: changed environment sha256:a -> sha256:b", "3 difference(s)"]),
])
def test_diff_of_two_images_reads_each_live(engine, capsys, monkeypatch, tmp_path, b, code, changes) -> None:
    monkeypatch.chdir(tmp_path)  # no file named like the images
    runs = {"ptkit:a": live("1.0", 90100), "ptkit:b": live("1.1", 92400)}
    monkeypatch.setattr(images, "run_module", fake(engine["run_module"], lambda api, ref, *rest: runs[ref]))
    monkeypatch.setattr(images, "manifest", fake(engine["manifest"],
                                                 lambda api, ref: {"fingerprint": {"digest": f"sha256:{ref[-1]}"}}))
    assert ptkit(capsys, "diff", "ptkit:a", b) == (code, ["--- ptkit:a", f"+++ {b}", *changes], [])
    assert engine["run_module"] == [(API, ref, Path(inventory.__file__), []) for ref in ("ptkit:a", b)]
    assert engine["manifest"] == [(API, "ptkit:a"), (API, b)]


def test_diff_of_two_sides_without_facts_is_a_usage_error(engine, capsys, tmp_path) -> None:
    for name in ("a", "b"):
        (tmp_path / f"{name}.json").write_text(json.dumps({"schema": "ptkit.verify/1", "environment": {}}))
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert ptkit(capsys, "diff", str(a), str(b)) == (2, [], [
        f"ptkit diff: error: {a} and {b} have nothing diff can compare (no packages, facts or fingerprint on both "
        "sides)"])


@pytest.mark.parametrize(("first", "code", "lines"), [
    (None, 0, ["layers: ptkit:a and ptkit:b have the same layers"]),
    (layerdiff.Difference(2, "RUN pip install", [("opt/venv/x.py", "mtime, content"), ("etc/y", "only in ptkit:b")]),
     1, ["layers: first difference at layer 2 (RUN pip install): 2 path(s)", "  opt/venv/x.py: mtime, content",
         "  etc/y: only in ptkit:b"]),
])
def test_diff_layers_compares_the_two_image_ids(engine, capsys, monkeypatch, first, code, lines) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(layerdiff, "first_difference", fake(seen, lambda *a: first))
    assert ptkit(capsys, "diff", "--layers", "ptkit:a", "ptkit:b") == (code, lines, [])
    assert seen == [(API, image_id("ptkit:a"), image_id("ptkit:b"), ("ptkit:a", "ptkit:b"))]
    assert engine["image"] == [(API, "ptkit:a"), (API, "ptkit:b")]


RECORDED = reproduce.Recorded(REV, "cuda126", "pypi", "runtime", "debian:bookworm-slim", "sha256:" + "b" * 64,
                              "locks/cuda126.txt", "c" * 64)
DIFFERENCE = layerdiff.Difference(5, "COPY . /opt", [("opt/ptkit/x", "content")])


@pytest.mark.parametrize(("argv", "repo", "options"), [
    ([], ROOT, []),  # --repo's default: this checkout
    (["--ca-bundle", "ca.pem", "--wheelhouse", "wh", "--repo", "src"], Path("src"),
     ["--wheelhouse", "wh", "--ca-bundle", "ca.pem"]),
])
@pytest.mark.parametrize("rebuilt", ["sha256:orig", "sha256:new"])
def test_reproduce_rebuilds_from_the_recorded_commit_and_compares(engine, capsys, monkeypatch, argv, repo, options,
                                                                 rebuilt) -> None:
    ensured: list[Any] = []
    rebuilds: list[Any] = []
    firsts: list[Any] = []
    monkeypatch.setattr(docker_api, "ensure_image", fake(ensured, lambda *a: SimpleNamespace(id="sha256:orig")))
    monkeypatch.setattr(reproduce, "rebuild", fake(rebuilds, lambda *a: rebuilt))
    monkeypatch.setattr(layerdiff, "first_difference", fake(firsts, lambda *a: DIFFERENCE))
    code, out, err = ptkit(capsys, "reproduce", "ptkit:cuda126", *argv)
    assert ensured == [(API, "ptkit:cuda126", "pull it or check the name")]
    assert engine["manifest"] == [(API, "ptkit:cuda126")]
    assert rebuilds == [(API, RECORDED, repo, options)]
    if rebuilt == "sha256:orig":
        assert (code, out, err, firsts) == (0, [
            "identical: ptkit:cuda126 and its rebuild from commit 0123456789ab are one image (sha256:orig)"], [], [])
    else:
        assert (code, out, err) == (1, [
            "different: ptkit:cuda126 is sha256:orig, its rebuild from commit 0123456789ab is sha256:new",
            "layers: first difference at layer 5 (COPY . /opt): 1 path(s)", "  opt/ptkit/x: content"], [])
        assert firsts == [(API, "sha256:orig", "sha256:new", ("ptkit:cuda126", "the rebuild"))]


def test_reproduce_of_other_ids_with_the_same_layers_says_so(engine, capsys, monkeypatch) -> None:
    monkeypatch.setattr(docker_api, "ensure_image", lambda *a: SimpleNamespace(id="sha256:orig"))
    monkeypatch.setattr(reproduce, "rebuild", lambda *a: "sha256:new")  # another config, the same layers
    monkeypatch.setattr(layerdiff, "first_difference", lambda *a: None)
    assert ptkit(capsys, "reproduce", "ptkit:cuda126")[:2] == (1, [
        "different: ptkit:cuda126 is sha256:orig, its rebuild from commit 0123456789ab is sha256:new",
        "layers: ptkit:cuda126 and the rebuild have the same layers"])


def test_reproduce_of_an_image_without_a_manifest_is_refused(engine, capsys, monkeypatch) -> None:
    monkeypatch.setattr(docker_api, "ensure_image", lambda *a: SimpleNamespace(id="sha256:orig"))
    monkeypatch.setattr(reproduce, "rebuild", lambda *a: pytest.fail("rebuilt without a record"))
    assert ptkit(capsys, "reproduce", "ptkit:bare") == (1, [], [
        "ptkit reproduce: error: ptkit:bare has no ptkit manifest: nothing records what it was built from"])


@pytest.mark.parametrize(("recorded", "code", "description"), [
    ("sha256:aa", 0, "sha256:aa (12 files; as built: the manifest records the same)"),
    ("sha256:bb", 1, "sha256:aa (12 files; the manifest recorded sha256:bb: changed since the build)"),
    (None, 0, "sha256:aa (12 files; ptkit:x has no manifest to compare with)"),
])
@pytest.mark.parametrize("listing", [[], ["--list"]])
def test_fingerprint_lists_first_and_fails_only_on_a_mismatch(engine, capsys, monkeypatch, recorded, code,
                                                              description, listing) -> None:
    files = ["f 1a2b 0644 /opt/venv/a.py", "l 3c4d 0777 /opt/venv/b"] if listing else []
    seen: list[Any] = []
    monkeypatch.setattr(fingerprint, "compute", fake(
        seen, lambda api, ref: fingerprint.Fingerprint(ref, "sha256:aa", 12, recorded, files)))
    assert ptkit(capsys, "fingerprint", "ptkit:x", *listing) == (code, [*files, description], [])
    assert seen == [(API, "ptkit:x", ("listing", bool(listing)))]


def components(text: list[str]) -> list[tuple[str, str]]:
    """(name, version) of the document's components, sorted (their order is the cyclonedx library's)."""
    return sorted((c["name"], c["version"]) for c in json.loads("\n".join(text))["components"])


def test_sbom_of_an_image_with_a_manifest_prints_the_validated_document(engine, capsys) -> None:
    code, out, err = ptkit(capsys, "sbom", "ptkit:cuda126")
    assert (code, err, engine["run_module"]) == (0, [], [])
    assert components(out) == [("libc6", "2.36-9"), ("numpy", "2.1.0"), ("torch", "2.13.0+cu126"),
                               ("zlib1g", "1:1.2.13")]
    assert json.loads("\n".join(out))["metadata"]["component"]["version"] == image_id("ptkit:cuda126")
    assert engine["image"] == engine["manifest"] == [(API, "ptkit:cuda126")]


def test_sbom_of_an_image_without_a_manifest_lists_its_live_packages(engine, capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(images, "run_module", fake(engine["run_module"], lambda *a: live("1.0", 0)))
    code, out, err = ptkit(capsys, "sbom", "ptkit:bare", "-o", str(tmp_path / "bom.json"))
    assert (code, out, err) == (0, [], [
        "ptkit sbom: ptkit:bare has no manifest: listing its live packages, without wheel hashes",
        f"sbom {tmp_path / 'bom.json'}: CycloneDX 1.6, validated"])
    assert engine["run_module"] == [(API, "ptkit:bare", Path(inventory.__file__), [])]
    assert components((tmp_path / "bom.json").read_text().splitlines()) == [("bash", "5.2"), ("demo", "1.0")]


HASH_PATTERN = "^([a-fA-F0-9]{32}|[a-fA-F0-9]{40}|[a-fA-F0-9]{64}|[a-fA-F0-9]{96}|[a-fA-F0-9]{128})$"  # CycloneDX 1.6


def test_sbom_that_does_not_validate_names_the_first_schema_error(engine, capsys, monkeypatch) -> None:
    broken = {"python": {"packages": {"demo": {"version": "1.0", "sha256": ["not-hex"]}}}}
    monkeypatch.setattr(images, "manifest", lambda api, ref: broken)
    assert ptkit(capsys, "sbom", "ptkit:x") == (1, [], [
        "ptkit sbom: error: the SBOM does not validate against CycloneDX 1.6: "
        f"'not-hex' does not match '{HASH_PATTERN}'"])


def test_sbom_to_a_folder_is_refused_naming_the_option(engine, capsys, tmp_path) -> None:
    assert ptkit(capsys, "sbom", "ptkit:cuda126", "-o", str(tmp_path)) == (1, [], [
        f"ptkit sbom: error: -o {tmp_path}: is a folder; write to a file, a new path, a character device or a FIFO"])


@pytest.mark.parametrize(("argv", "expected"), [
    (["manifest", "img"], {"image": "img", "json": False, "func": commands.cmd_manifest}),
    (["manifest", "img", "--json"], {"image": "img", "json": True, "func": commands.cmd_manifest}),
    (["diff", "x", "y"], {"a": "x", "b": "y", "layers": False, "func": commands.cmd_diff}),
    (["diff", "--layers", "x", "y"], {"a": "x", "b": "y", "layers": True, "func": commands.cmd_diff}),
    (["reproduce", "img"], {"image": "img", "repo": ROOT, "wheelhouse": None, "ca_bundle": None,
                            "func": commands.cmd_reproduce}),
    (["reproduce", "img", "--repo", "r", "--wheelhouse", "w", "--ca-bundle", "c"],
     {"image": "img", "repo": Path("r"), "wheelhouse": Path("w"), "ca_bundle": Path("c"),
      "func": commands.cmd_reproduce}),
    (["fingerprint", "img"], {"image": "img", "list": False, "func": commands.cmd_fingerprint}),
    (["fingerprint", "img", "--list"], {"image": "img", "list": True, "func": commands.cmd_fingerprint}),
    (["sbom", "img"], {"image": "img", "output": None, "func": commands.cmd_sbom}),
    (["sbom", "img", "--output", "o"], {"image": "img", "output": Path("o"), "func": commands.cmd_sbom}),
    (["conda-lock", "v"], {"variant": "v", "spec": None, "output": None, "matrix": None,
                           "func": commands.cmd_conda_lock}),
    (["conda-lock", "v", "--spec", "s", "-o", "o", "--matrix", "m"],
     {"variant": "v", "spec": Path("s"), "output": Path("o"), "matrix": Path("m"), "func": commands.cmd_conda_lock}),
])
def test_the_ptkit_parser_gives_each_command_its_options_and_defaults(argv, expected) -> None:
    assert vars(cli.build_parser(argv[0]).parse_args(argv)) == {"command": argv[0], **expected}


@pytest.mark.parametrize("argv", [["reproduce", "img", "--repo", ""], ["sbom", "img", "-o", ""],
                                  ["conda-lock", "v", "--spec", "a\nb"], ["manifest"], ["diff", "x"]])
def test_the_parser_refuses_an_empty_path_or_a_missing_argument(argv, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.build_parser(argv[0]).parse_args(argv)
    assert exit_.value.code == 2
