"""The inventory and the drift comparison in this process, on real files (and this host's dpkg and torch)."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from ptkit.verify import drift, inventory
from tests.utils.stand_ins import dist_info


@pytest.mark.parametrize(("name", "canonical"), [("Jinja2", "jinja2"), ("jinja_2", "jinja-2"), ("a.b--c", "a-b-c")])
def test_names_are_pep503_normalized(name, canonical):
    assert inventory.canonical(name) == canonical


def test_distributions_on_a_path_first_wins_with_their_record_hash(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    dist_info(first, "Demo_Pkg-1.0.dist-info", "Metadata-Version: 2.1\nName: Demo_Pkg\nVersion: 1.0\n\nName: body\n")
    dist_info(second, "demo_pkg-2.0.dist-info", "Name: demo-pkg\nVersion: 2.0\n")
    dist_info(second, "old-0.1.egg-info", "Name: old\nVersion: 0.1\n", record=None)
    (second / "single-3.0.egg-info").write_text("Name: single\nVersion: 3.0\n")  # an egg-info file
    dist_info(second, "broken-1.dist-info", "Name: broken\n")  # no Version: not a usable distribution
    (second / "nometa-1.dist-info").mkdir()
    found = inventory.installed_distributions([str(tmp_path / "missing"), str(first), str(second)])
    assert sorted(found) == ["demo-pkg", "old", "single"]
    assert found["demo-pkg"]["version"] == "1.0"  # the first on the path, as for imports
    assert found["demo-pkg"]["record"] == hashlib.sha256(b"x.py,,\n").hexdigest()
    assert found["old"] == {"version": "0.1", "record": ""} and found["single"]["version"] == "3.0"


def test_a_header_field_is_read_once_and_only_from_the_header(tmp_path):
    dist_info(tmp_path, "a-1.dist-info", "Name: a\nVersion: 1\nVersion: 9\nSummary: Version: 5\n\nVersion: 7\n")
    assert inventory.installed_distributions([str(tmp_path)])["a"]["version"] == "1"


def test_debian_packages_are_this_hosts_dpkg_database():
    packages = inventory.debian_packages()
    assert packages is not None  # this host is Debian
    expected = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "dpkg"], capture_output=True, text=True).stdout
    assert packages["dpkg"]["version"] == expected and packages["dpkg"]["arch"]


def test_torch_facts_of_this_interpreter_and_of_one_without_torch(tmp_path):
    torch = pytest.importorskip("torch")
    facts = inventory.torch_facts(sys.executable)
    assert facts["torch"] == torch.__version__ and facts["cuda"] == torch.version.cuda
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True)
    broken = inventory.torch_facts(str(tmp_path / "bare" / "bin" / "python"))
    assert broken == {"error": "ModuleNotFoundError: No module named 'torch'"}


@pytest.mark.parametrize(("recorded", "installed", "changes"), [
    ({"a": {"version": "1", "record": "x"}}, {"a": {"version": "1", "record": "x"}}, []),
    ({"a": {"version": "1", "record": "x"}}, {"a": {"version": "1", "record": "y"}},
     ["a 1 reinstalled with other files"]),
    ({"a": {"version": "1"}}, {"a": {"version": "1", "record": "y"}}, []),  # no record kept: versions decide
    ({"a": {"version": "1", "record": "x"}}, {"a": {"version": "2", "record": "y"}}, ["a changed 1 -> 2"]),
    ({"b": {"version": "1", "record": "x"}}, {"a": {"version": "2", "record": "y"}},
     ["a 2 installed after the build", "b 1 removed after the build"]),
])
def test_drift_compares_versions_then_files(recorded, installed, changes):
    assert drift.compare(recorded, installed) == changes
