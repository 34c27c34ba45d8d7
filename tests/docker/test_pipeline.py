"""The pipeline's promises with a real engine: the verify options reach the container through
`--image`, a verifier that outruns its time-out is reported as one, a team image builds with no index
at all (from the wheelhouse), and ptkit installed from its wheel, outside the repository, builds and
verifies an image."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ptkit import cli, docker_api, pipeline
from ptkit.verify.options import VerifyOptions
from tests.utils.builds import created_by
from tests.utils.docker_helpers import container_ids, derived_image
from tests.utils.ptkit_cli import run_ptkit

docker = pytest.importorskip("docker")
pytestmark = [pytest.mark.docker, pytest.mark.slow]
DEAD_INDEX = "http://127.0.0.1:9/simple"  # nothing listens on the discard port: an index cut off


def test_the_verify_options_arrive_in_the_container_through_image(api, image_under_test, child_images):
    """A foreign image (no ptkit labels) gets the verifier injected; the options the host read (VerifyOptions) are
    the arguments it parses there, as its report's invocation says."""
    vendor = derived_image(api, image_under_test.tag, "ptkit-test/vendor-options:latest",
                           "rm -rf /opt/ptkit /opt/venv/bin/ptkit",
                           ["LABEL ptkit.variant=", 'ENTRYPOINT ["python3"]'], child_images)
    args = cli.build_parser().parse_args(["verify", "--image", vendor, "--quick", "--require", "json", "--strict"])
    options = VerifyOptions.from_namespace(args)
    report = pipeline.verify_in_container(docker_api.client(), vendor, pipeline.Verification(options, gpu="no"))
    invocation = report.invocation
    assert "--quick" in invocation and "--strict" in invocation, invocation
    assert invocation[invocation.index("--require") + 1] == "json"


def test_a_verifier_past_its_time_out_is_a_time_out_and_leaves_no_container(api, image_under_test):
    proc = run_ptkit("verify", "--image", image_under_test.tag, "--timeout", "2")  # the full run takes longer
    assert proc.returncode == 1, proc.stdout + proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "timed out after 2 s" in last, last
    assert "Docker engine connection failed" not in proc.stderr
    assert not container_ids(api, label="ptkit.role=verify")


@pytest.mark.builds
def test_a_team_image_builds_from_the_wheelhouse_with_every_index_cut_off(api, image_under_test, builds,
                                                                          tmp_path, child_images):
    v = image_under_test.variant
    # A wheelhouse holding the variant's wheels (hard links: no copy of GBs) and a team package.
    wheels = tmp_path / "wheelhouse"
    wheels.mkdir()
    for wheel in builds.wheelhouse(v).glob("*.whl"):
        os.link(wheel, wheels / wheel.name)
    project = tmp_path / "probe"
    (project / "ptkit_team_probe").mkdir(parents=True)
    (project / "ptkit_team_probe" / "__init__.py").write_text("ANSWER = 42\n")
    (project / "pyproject.toml").write_text('[project]\nname = "ptkit-team-probe"\nversion = "1.0"\n'
                                            '[build-system]\nrequires = ["setuptools"]\n'
                                            'build-backend = "setuptools.build_meta"\n')
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(project),
                    "-w", str(wheels)], check=True, capture_output=True, timeout=300)
    reqs = tmp_path / "team.txt"
    reqs.write_text("ptkit-team-probe==1.0\n")
    tag = f"ptkit-test/team-offline:{v.image_name}"
    options = [o.replace(str(builds.wheelhouse(v)), str(wheels)) for o in builds.options(v)]
    proc = run_ptkit("build", v.name, "--flavor", "devel", *options, "--index-url", DEAD_INDEX,
                     "--team-index-url", DEAD_INDEX, "--extra-requirements", str(reqs), "--tag", tag)
    child_images.append(tag)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = api.containers.run(tag, ["-c", "import ptkit_team_probe as p; print(p.ANSWER, p.__file__)"],
                             entrypoint=["python"], remove=True, labels={"ptkit.role": "test"}).decode()
    assert out.startswith("42 /opt/team/"), out


@pytest.mark.builds
def test_ptkit_installed_from_its_wheel_builds_and_verifies_an_image(installed_with_deps, image_under_test, builds,
                                                                     tmp_path, api, created_images):
    v = image_under_test.variant
    ptkit = installed_with_deps / "bin" / "ptkit"
    env = {k: val for k, val in os.environ.items() if k not in ("PTKIT_MATRIX", "PYTHONPATH")}
    work = tmp_path / "empty"
    work.mkdir()
    proc = subprocess.run([str(ptkit), "check", v.name, "--flavor", "runtime", *builds.options(v)], cwd=work,
                          capture_output=True, text=True, timeout=1800, env=env)
    report = work / "reports" / f"{v.image_name}-runtime.json"
    created_by(api, [report], created_images)  # its tags (built outside a git checkout: `-norev`) go at the end
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert report.is_file()
    assert Path(ptkit).resolve().is_relative_to(installed_with_deps)
