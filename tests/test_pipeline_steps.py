"""The pipeline's wiring, in-process: which step runs when, on what, with what the step before it returned.

Each step is a recorder here (build, normalize, push, sign, attest, the container run): the steps themselves run
for real in the Docker tests (tests/docker/), minutes each, too slow to repeat for each mutant of pipeline.py. What
is stated here is the pipeline's own contract, from its docstring and the README: bad input fails before the
engine is asked anything; runtime is built before devel, which reuses its layers (no --no-cache the second
time); the team image is built FROM devel and is the one verified; nothing is pushed unless asked, nothing signed
or attested unless pushed with a key; each report gets the image's size, build time, and where it ran."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from ptkit import build, container, docker_api, fatbin_image, images, normalize, pipeline
from ptkit.errors import PtkitError
from ptkit.images import CUDA_LABEL, VARIANT_LABEL
from ptkit.inputs import BuildInputs, Destination
from ptkit.platforms import DEFAULT_PLATFORM, PLATFORMS
from ptkit.verify.options import VerifyOptions, to_argv
from ptkit.verify.results import Report
from tests.utils import matrix_facts
from tests.utils.ptkit_cli import ROOT

pytest.importorskip("docker")  # the SDK's error types are part of the engine's answers

CPU = matrix_facts.default_variant()
CUDA = matrix_facts.cuda_variants()[0]
OFFLINE = "file:///nowhere/simple"  # a file:// index has nothing to reach: preflight asks no network
FOREIGN = next(p for p in PLATFORMS.values() if p != DEFAULT_PLATFORM)


class Steps:
    """Every step the pipeline calls, recorded in order; the engine answers what the test sets."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, nvidia: bool = False, labels: dict[str, str] | None = None,
                 attrs: dict[str, object] | None = None):
        self.calls: list[tuple] = []
        self.nvidia, self.labels = nvidia, labels if labels is not None else {VARIANT_LABEL: CPU.name}
        self.attrs = attrs if attrs is not None else {"Size": 123456789, "Os": "linux", "Architecture": "amd64"}
        self.images = SimpleNamespace(get=lambda ref: SimpleNamespace(id=f"id-of-{ref}", labels=self.labels,
                                                                      attrs=self.attrs))
        steps = {(docker_api, "client"): self.client, (build, "build_variant"): self.build_variant,
                 (build, "build_team"): self.build_team, (normalize, "normalize"): self.normalize,
                 (build, "push"): self.push, (fatbin_image, "verify_options"): self.fatbin,
                 (docker_api, "ensure_image"): self.ensure_image, (docker_api, "has_nvidia_runtime"): self.runtime,
                 (container, "run_verifier"): self.run_verifier}
        for (module, name), step in steps.items():
            monkeypatch.setattr(module, name, step)
        from ptkit.repro import attest, sign

        monkeypatch.setattr(sign, "sign_pushed", lambda pushed, key: self.calls.append(("sign", pushed, key)))
        monkeypatch.setattr(attest, "attest_pushed", lambda api, *args: self.calls.append(("attest", api, *args)))

    def named(self, name: str) -> list[tuple]:
        return [c for c in self.calls if c[0] == name]

    def client(self):
        self.calls.append(("client",))
        return self

    def info(self):
        return {}

    def build_variant(self, api, plan, inputs, sources):
        assert api is self, "a step got another engine than the pipeline's"
        self.calls.append(("build", plan.image.flavor, inputs.no_cache, sources, plan.index_url))
        time.sleep(0.06)  # a build takes time: each image's own is reported (to a tenth of a second)
        return f"built-{plan.image.flavor}"

    def build_team(self, api, parent, inputs, tags):
        assert api is self and inputs.team_requirements is not None
        self.calls.append(("team", parent, tuple(tags)))
        return "built-team"

    def normalize(self, api, image_id, epoch, base):
        assert api is self and isinstance(epoch, normalize.Epoch)
        self.calls.append(("normalize", image_id, base))
        return f"{image_id}-normalized"

    def push(self, api, refs):
        assert api is self
        self.calls.append(("push", tuple(refs)))
        return self.digests(refs)

    @staticmethod
    def digests(refs) -> dict[str, str]:
        """The registry's digest of each pushed tag (one per tag: which tag's digest lands where is visible)."""
        return {ref: f"sha256:{len(ref):064x}" for ref in refs}

    def fatbin(self, api, ref):
        assert api is self
        self.calls.append(("fatbin", ref))
        return VerifyOptions(fatbin_unread=f"listing of {ref}")

    def ensure_image(self, api, ref, hint, platform=None):
        assert api is self and hint.startswith("build it")
        self.calls.append(("ensure", ref, platform))
        return self.images.get(ref)

    def runtime(self, api):
        assert api is self
        return self.nvidia

    def run_verifier(self, api, image, argv, *, inject, gpu, timeout, verifier, environment):
        assert api is self
        self.calls.append(("verify", image, tuple(argv), inject, gpu, timeout, verifier, environment))
        report = Report()
        report.add("import:torch", "PASS", f"in {image}")
        return report


def request(variant=CPU, push: bool = False, signer=None, **inputs) -> pipeline.Request:
    req = pipeline.request(matrix_facts.MATRIX, variant, BuildInputs(index_url=OFFLINE, **inputs),
                           Destination(("team/pytorch:v1",), push))
    return dataclasses.replace(req, signer=signer)


def test_bad_input_fails_before_the_engine_is_asked_anything(monkeypatch, tmp_path):
    steps = Steps(monkeypatch)
    with pytest.raises(PtkitError, match="--wheelhouse"):
        pipeline.check(request(wheelhouse=tmp_path / "empty"), reports=tmp_path)
    req = dataclasses.replace(request(), inputs=BuildInputs(index_url="http://127.0.0.1:9/simple"))
    with pytest.raises(PtkitError, match=r"the package index http://127\.0\.0\.1:9/simple does not answer"):
        pipeline.build_and_push(req)
    others = next(v for v in matrix_facts.every_source() if len(v.sources) > 1 and v.default_source)
    req = dataclasses.replace(request(others), inputs=BuildInputs(index_url="http://127.0.0.1:9/simple"))
    with pytest.raises(PtkitError, match=f"; or build --source {others.sources[1]}$"):
        pipeline.check(req, reports=tmp_path)
    assert steps.calls == []


def test_check_builds_runtime_then_devel_on_its_layers_and_verifies_and_reports_each(monkeypatch, tmp_path):
    steps = Steps(monkeypatch)
    results = pipeline.check(request(no_cache=True), gpu="no", reports=tmp_path)
    builds = steps.named("build")
    assert [(b[1], b[2]) for b in builds] == [("runtime", True), ("devel", False)]  # --no-cache: the first only
    assert builds[0][3] is builds[1][3] and builds[0][3].matrix_text == matrix_facts.MATRIX.path.read_bytes()
    assert builds[0][4] == OFFLINE
    assert (builds[0][3].lock, builds[0][3].wheels) == (b"", None)  # no lock: the installer resolves, any wheel
    assert steps.named("normalize") == [("normalize", "built-runtime", CPU.base_image),
                                        ("normalize", "built-devel", CPU.base_image)]
    devel, runtime = (f"ptkit:{CPU.image_name}", f"ptkit:{CPU.image_name}-runtime")
    # each image verified by its engine id (a tag may name another machine's image), devel first
    assert [c[:2] for c in steps.calls if c[0] in ("fatbin", "verify")] == [
        ("fatbin", devel), ("verify", f"id-of-{devel}"), ("fatbin", runtime), ("verify", f"id-of-{runtime}")]
    assert steps.calls[0] == ("client",) and not steps.named("push") + steps.named("sign") + steps.named("attest")
    assert [path for path, _ in results] == [tmp_path / f"{CPU.image_name}.json",
                                             tmp_path / f"{CPU.image_name}-runtime.json"]
    for (path, report), tag in zip(results, (devel, runtime), strict=True):
        written = json.loads(path.read_text())
        assert written["image"]["size_bytes"] == 123456789 and written["image"]["compressed_bytes"] is None
        assert 0.05 < written["image"]["build_seconds"] < 60
        assert written["run"]["image"] == tag and written["run"]["gpu_requested"] is False
        assert written["run"]["platform"] == "linux/amd64" and written["run"]["pushed"] == {}
        assert written["checks"][0]["detail"] == f"in id-of-{tag}" and report.image == written["image"]
    # each image is verified with what the fatbin step read from that image, and no GPU (--gpu no)
    for (_, image, argv, _, given, *_) in steps.named("verify"):
        read = f"listing of {image.removeprefix('id-of-')}"
        assert list(argv) == to_argv(VerifyOptions(fatbin_unread=read).expecting(CPU.cuda, False))
        assert given is False


def test_check_gives_the_gpu_where_the_host_has_the_nvidia_runtime_and_installs_exactly_a_lock(monkeypatch,
                                                                                               tmp_path):
    lock = ROOT / images.lock_path(CPU)
    steps = Steps(monkeypatch, nvidia=True)
    pipeline.check(request(lock=lock), reports=tmp_path)  # --gpu's default: auto
    assert [c[4] for c in steps.named("verify")] == [True, True]
    sources = steps.named("build")[0][3]
    assert sources.lock == lock.read_bytes()
    assert ("torch", CPU.torch.split("+")[0]) in {(n, v.split("+")[0]) for n, v in sources.wheels}


def test_a_team_image_is_built_from_devel_not_normalized_and_is_the_one_verified(monkeypatch, tmp_path):
    steps = Steps(monkeypatch)
    wanted = tmp_path / "requirements.txt"
    wanted.write_text("six\n")
    results = pipeline.check(request(team_requirements=wanted), gpu="no", reports=tmp_path)
    assert steps.named("team") == [("team", f"ptkit:{CPU.image_name}", ("team/pytorch:v1",))]
    assert [c[1] for c in steps.named("normalize")] == ["built-runtime", "built-devel"]
    assert [c[1] for c in steps.named("verify")] == ["id-of-team/pytorch:v1"]
    assert [p for p, _ in results] == [tmp_path / f"{CPU.image_name}-team.json"]


def test_nothing_is_pushed_unless_asked_and_signed_and_attested_only_with_a_key(monkeypatch, tmp_path):
    for push, signer, signed in ((False, "key", False), (True, None, False), (True, "key", True)):
        steps = Steps(monkeypatch)
        start = time.time()
        built, pushed = pipeline.build_and_push(request(push=push, signer=signer))
        assert [b.desc.flavor for b in built] == ["devel", "runtime"]
        assert [b.image_id for b in built] == ["built-devel-normalized", "built-runtime-normalized"]
        assert bool(steps.named("push")) == push
        if push:
            assert [c[1] for c in steps.named("push")] == [tuple(b.desc.push_tags) for b in built]
            assert set(pushed) == {b.image for b in built}
            assert pushed[built[0].image] == steps.digests(built[0].desc.push_tags)
        else:
            assert pushed == {}
        assert steps.named("sign") == ([("sign", pushed, "key")] if signed else [])
        attested = steps.named("attest")
        assert len(attested) == signed
        if signed:
            api, images, digests, key, reports, run = attested[0][1:]
            assert api is steps
            assert images == [(b.image, DEFAULT_PLATFORM.name) for b in built]
            assert (digests, key, reports) == (pushed, "key", {})
            assert abs(run.started.timestamp() - start) < 5


def test_check_attests_what_it_pushed_naming_each_report(monkeypatch, tmp_path):
    steps = Steps(monkeypatch)
    pipeline.check(request(push=True, signer="key"), gpu="no", reports=tmp_path)
    _, _, _, _, reports, _ = steps.named("attest")[0][1:]
    assert reports == {f"ptkit:{CPU.image_name}": tmp_path / f"{CPU.image_name}.json",
                       f"ptkit:{CPU.image_name}-runtime": tmp_path / f"{CPU.image_name}-runtime.json"}
    assert steps.calls.index(steps.named("attest")[0]) > steps.calls.index(steps.named("verify")[-1])
    devel_tags = steps.named("push")[0][1]  # devel first, as the build returns the images
    assert json.loads((tmp_path / f"{CPU.image_name}.json").read_text())["run"]["pushed"] == \
        steps.digests(devel_tags)


@pytest.mark.parametrize(("gpu", "nvidia", "cuda_label", "uses_gpu", "says_no_runtime"), [
    ("auto", False, "12.6", False, True),  # a CUDA image on a host without the NVIDIA runtime: said so
    ("auto", False, None, False, True),  # an image that says nothing of CUDA: might be one, said so
    ("auto", False, "", False, False),  # a CPU image: nothing to say
    ("auto", True, "12.6", True, False),
    ("yes", False, "12.6", True, False),  # asked for: given, whatever the host says
    ("no", True, "12.6", False, False),
])
def test_the_gpu_a_container_gets(monkeypatch, capsys, gpu, nvidia, cuda_label, uses_gpu, says_no_runtime):
    labels = {VARIANT_LABEL: CUDA.name, **({CUDA_LABEL: cuda_label} if cuda_label is not None else {})}
    steps = Steps(monkeypatch, nvidia=nvidia, labels=labels)
    how = pipeline.Verification(variant=CUDA, gpu=gpu, timeout=77, verifier=Path("/v"), digests={"t": "d"})
    result = pipeline.verify_in_container(steps, "some:image", how)
    _, image, argv, inject, given, timeout, verifier, environment = steps.named("verify")[0]
    assert (image, inject, given, timeout, verifier, environment) == ("some:image", False, uses_gpu, 77, Path("/v"),
                                                                     {})
    # the row's CUDA release is expected; a usable GPU only where the container is given one
    assert list(argv) == to_argv(VerifyOptions(expect_cuda_version=CUDA.cuda, expect_cuda=uses_gpu))
    said = capsys.readouterr().err
    assert ("no NVIDIA container runtime" in said) == says_no_runtime, said
    assert result.run["gpu_requested"] is uses_gpu and result.run["pushed"] == {"t": "d"}
    assert result.run["variant"] == CUDA.name and result.run["image_id"] == "id-of-some:image"


def test_an_image_not_of_ptkit_gets_the_verifier_and_another_machines_runs_emulated_without_gpu(monkeypatch):
    steps = Steps(monkeypatch, nvidia=True, labels={})
    how = pipeline.Verification(gpu="yes", platform=FOREIGN)
    result = pipeline.verify_in_container(steps, "their:image", how)
    assert steps.named("ensure") == [("ensure", "their:image", FOREIGN.name)]
    _, image, _, inject, given, *_, environment = steps.named("verify")[0]
    # run by the id of the platform's image (the tag may name another machine's), the verifier brought in
    assert (image, inject, given) == ("id-of-their:image", True, False)
    from ptkit import emulator

    assert environment == emulator.environment(FOREIGN)
    assert result.run["variant"] is None and result.run["image"] == "their:image"
    assert pipeline.gpu_for(DEFAULT_PLATFORM, "yes") == "yes" and pipeline.gpu_for(FOREIGN, "yes") == "no"


def test_verify_image_writes_the_report_where_asked_and_runs_the_signed_digest(monkeypatch, tmp_path):
    from ptkit.repro import attest, sign

    steps = Steps(monkeypatch)
    checked = []
    monkeypatch.setattr(sign, "require_signed", lambda ref, key: checked.append(("signed", ref, key)) or
                        f"{ref.split(':')[0]}@sha256:{'a' * 64}")
    monkeypatch.setattr(attest, "require_provenance", lambda ref, key: checked.append(("provenance", ref, key)))
    out = tmp_path / "report.json"
    result = pipeline.verify_image("team/pytorch:v1", pipeline.Verification(gpu="no"), out, signed_by="key")
    pinned = f"team/pytorch@sha256:{'a' * 64}"
    assert checked == [("signed", "team/pytorch:v1", "key"), ("provenance", pinned, "key")]
    assert steps.named("verify")[0][1] == pinned
    assert json.loads(out.read_text())["run"]["image"] == pinned == result.run["image"]
    pipeline.verify_image("plain:image", pipeline.Verification(gpu="no"))
    assert steps.named("verify")[1][1] == "plain:image" and len(checked) == 2


def test_image_block_reads_the_engines_size_and_rounds_the_build_time():
    assert pipeline.image_block({"Size": "2048"}, 12.345) == {"size_bytes": 2048, "compressed_bytes": None,
                                                             "build_seconds": 12.3}



@pytest.fixture
def nodes(monkeypatch):
    """multinode.run_job as the nodes would leave it: each node's folder, rank 0's combined report in node-0."""
    from ptkit.cluster import multinode

    ran = []

    def run_job(api, job, verify_args, out, deadline):
        assert isinstance(api, Steps)  # the engine the pipeline holds
        ran.append((job, verify_args, deadline, out.exists()))
        (out / "node-0").mkdir(parents=True)
        report = Report()
        report.add("dist:all_reduce", "PASS", "2 ranks")
        (out / "node-0" / multinode.COMBINED).write_text(json.dumps(report.to_dict()))
        return [0, 3]

    monkeypatch.setattr(multinode, "run_job", run_job)
    return ran


def test_a_multi_node_run_of_an_image_as_it_is_starts_afresh_and_judges_every_node(monkeypatch, tmp_path, nodes):
    from ptkit.cluster.launch import Job

    steps = Steps(monkeypatch)
    (tmp_path / "cpu-distributed" / "node-7").mkdir(parents=True)  # an earlier run's: not this run's evidence
    job = Job("cpu", "mine:img", nodes=2, procs_per_node=1, gpus_per_node=0)
    combined, failure = pipeline.distributed(None, pipeline.MultiNode(job, ("--quick",), 33, tmp_path))
    assert nodes == [(job, ["--quick"], 33, False)] and not (tmp_path / "cpu-distributed" / "node-7").exists()
    assert steps.named("ensure") == [("ensure", "mine:img", None)] and not steps.named("build")
    assert combined == tmp_path / "cpu-distributed.json" and combined.is_file()
    assert failure == "node 1 exited 3"  # rank 0's report passed; a node that failed still fails the run


def test_a_multi_node_run_builds_devel_unless_the_engine_holds_this_commits(monkeypatch, tmp_path, nodes, capsys):
    from ptkit.cluster.launch import Job
    from ptkit.images import REVISION_LABEL, SOURCE_LABEL, Provenance

    req = request()
    when = req.images[0].provenance.created
    req = dataclasses.replace(req, images=tuple(dataclasses.replace(i, provenance=Provenance("abc123", when))
                                                for i in req.images))
    job = Job(CPU.name, "ignored:img", nodes=2, procs_per_node=1, gpus_per_node=0)
    this_commit = {VARIANT_LABEL: CPU.name, SOURCE_LABEL: CPU.source, REVISION_LABEL: "abc123"}
    for held, rebuild, built in ((this_commit, False, False), ({**this_commit, REVISION_LABEL: "0ld"}, False, True),
                                 (this_commit, None, True)):  # None: the default, build
        nodes.clear()
        steps = Steps(monkeypatch, labels=held)
        run = pipeline.MultiNode(job, reports=tmp_path / str(len(nodes)) / str(rebuild))
        pipeline.distributed(req, run, **({} if rebuild is None else {"rebuild": rebuild}))
        assert [b[1] for b in steps.named("build")] == (["runtime", "devel"] if built else [])
        devel = f"ptkit:{CPU.image_name}"
        assert nodes[0][0] == dataclasses.replace(job, image=devel)  # the job runs the devel image either way
        said = capsys.readouterr().err
        assert (f"distributed: {devel} was built from this commit: used as it is" in said) == (not built), said
