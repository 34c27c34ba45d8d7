"""The pipeline's decisions that need no engine: which request a command line makes, when the multi-node run
may reuse an image instead of building it, and what the host expects of an image it verifies."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest

from ptkit import cli, commands, pipeline
from ptkit.images import Image, Provenance
from ptkit.inputs import BuildInputs
from tests.utils import matrix_facts

CPU = matrix_facts.default_variant()
WHEN = dt.datetime(2026, 11, 27, tzinfo=dt.timezone.utc)


class Engine:
    """An engine holding images with these labels, by tag (the Docker SDK's `api.images.get`)."""

    def __init__(self, images: dict[str, dict[str, str]]):
        self.images = SimpleNamespace(get=self._get)
        self._held = images

    def _get(self, ref: str):
        from docker.errors import ImageNotFound

        if ref not in self._held:
            raise ImageNotFound(ref)
        return SimpleNamespace(labels=self._held[ref])


def labels(revision: str, variant=CPU) -> dict[str, str]:
    return {"ptkit.variant": variant.name, "ptkit.source": variant.source,
            "org.opencontainers.image.revision": revision}


@pytest.mark.parametrize(("held", "revision", "reused"), [
    (labels("abc123"), "abc123", True),  # built from this commit, e.g. by scripts/main.sh: used as it is
    (labels("abc123"), "def456", False),  # an older commit's image: built again
    (labels("abc123-dirty"), "abc123-dirty", False),  # uncommitted sources may have changed since: built again
    (labels("unknown"), "unknown", False),  # outside a checkout nothing says what it was built from
    ({**labels("abc123"), "ptkit.source": "pypi"}, "abc123", False),  # another source's pins under the tag
    (None, "abc123", False),  # no image of that tag
])
def test_the_multi_node_run_reuses_only_an_image_built_from_this_commit(held, revision, reused):
    pytest.importorskip("docker")
    desc = Image(CPU, Provenance(revision, WHEN))
    engine = Engine({desc.tags[0]: held} if held is not None else {})
    assert pipeline.current_image(engine, desc) == (desc.tags[0] if reused else None)


def parse(*argv: str):
    return cli.build_parser().parse_args(list(argv))


def test_without_build_options_the_distributed_run_keeps_the_default_inputs_so_may_reuse_the_image():
    args = parse("distributed", CPU.name, "--nodes", "2")
    assert commands._inputs(args) == BuildInputs()
    given = parse("distributed", CPU.name, "--nodes", "2", "--wheelhouse", "w", "--base-image", "b:1")
    assert commands._inputs(given) == BuildInputs(base_image="b:1", wheelhouse=Path("w"))


def test_the_distributed_run_builds_the_devel_image_that_ptkit_build_names():
    args = parse("distributed", CPU.name)
    m = matrix_facts.MATRIX
    req = pipeline.request(m, m.get(args.variant, args.source), commands._inputs(args), flavors=("devel",))
    assert [(i.flavor, i.team) for i in req.images] == [("devel", False)]
    assert req.images[0].tags[0] == f"ptkit:{CPU.image_name}" and not req.push


def test_preflight_reads_each_lock_once_and_refuses_a_stale_compiler_lock_before_any_build(tmp_path):
    from ptkit import toolchain
    from ptkit.errors import PtkitError

    row = next(v for v in matrix_facts.cuda_variants() if toolchain.has_compiler(v))
    root = Path(__file__).resolve().parents[1]
    lock = tmp_path / f"{row.image_name}.txt"
    lock.write_bytes((root / "locks" / lock.name).read_bytes())
    nvcc = toolchain.compiler_lock_path(lock)
    nvcc.write_bytes((root / "locks" / nvcc.name).read_bytes())
    inputs = BuildInputs(lock=lock, index_url="file:///nowhere")  # a file:// index: nothing to reach
    req = pipeline.request(matrix_facts.MATRIX, row, inputs)
    sources = pipeline.preflight(req)
    assert sources.lock == lock.read_bytes()
    assert sources.compilers["devel"] == (toolchain.WITH, nvcc.read_bytes())
    assert sources.compilers["runtime"][0] == toolchain.WITHOUT  # the runtime image has no compiler
    nvcc.write_text("cuda-toolkit==0.0.1 --hash=sha256:" + "0" * 64 + "\n")  # not the release torch pins
    with pytest.raises(PtkitError, match=f"regenerate it with `ptkit lock {row.name} --compiler`"):
        pipeline.preflight(req)


def test_without_a_compiler_lock_preflight_says_nothing_and_leaves_the_compiler_to_the_build(capsys):
    from ptkit import toolchain

    row = next(v for v in matrix_facts.cuda_variants() if toolchain.has_compiler(v))
    req = pipeline.request(matrix_facts.MATRIX, row, BuildInputs(index_url="file:///nowhere"))
    assert pipeline.preflight(req).compilers == {}
    assert capsys.readouterr().err == ""  # a one-line error that follows (no daemon) stays one line
