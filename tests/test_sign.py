"""Image signatures against a real registry (Debian's docker-registry on loopback), without the Docker engine:
tiny OCI images made with umoci and pushed with skopeo, signed and checked with cosign and a key pair made here.
Each tampering case of issue 22 (a retagged image, a changed layer, a wrong key, a signature moved onto another
image, no signature) is refused with its cause."""

from __future__ import annotations

from pathlib import Path

import pytest

from ptkit import cli, docker_api
from ptkit.errors import PtkitError
from ptkit.repro import sign
from tests.utils import matrix_facts
from tests.utils.cosign_images import (  # noqa: F401 - the *_fixture names are the fixtures keys, registry, signer
    PASSWORD,
    image,
    keys_fixture,
    needs_tools,
    registry_fixture,
    run,
    signer_fixture,
)


@needs_tools
def test_signed_image_verifies_pinned_to_its_digest_and_key_stays_out_of_the_output(registry, keys, signer,
                                                                                       tmp_path, capfd):
    ref = f"{registry.host}/team/signed:v1"
    digest = image(tmp_path, "signed").push(ref)
    sign.sign_pushed({"ptkit:cpu": {ref: digest, f"{registry.host}/team/signed:v1-2026": digest}}, signer)
    verdict = sign.verify_signature(ref, sign.read_key(keys["pub"], private=False))
    assert verdict.ok and verdict.cause == "signed", verdict
    assert verdict.pinned == f"{registry.host}/team/signed@{digest}"
    out, err = capfd.readouterr()
    assert err.count("signed ") == 1, err  # both tags name one digest of one repository: one signature
    secret = keys["key"].read_text()
    for text in (out, err, repr(signer)):
        assert PASSWORD not in text and secret.splitlines()[1] not in text


@needs_tools
def test_a_wrong_key_is_refused_naming_the_key(registry, keys, signer, tmp_path):
    ref = f"{registry.host}/team/wrongkey:v1"
    sign.sign(f"{registry.host}/team/wrongkey@{image(tmp_path, 'wrongkey').push(ref)}", signer)
    verdict = sign.verify_signature(ref, sign.read_key(keys["other_pub"], private=False))
    assert (verdict.ok, verdict.cause) == (False, "wrong key")
    assert str(keys["other_pub"]) in verdict.detail


@needs_tools
def test_an_unsigned_image_is_refused_in_one_line_before_anything_runs(registry, keys, tmp_path, monkeypatch, capsys):
    ref = f"{registry.host}/team/unsigned:v1"
    image(tmp_path, "unsigned").push(ref)

    def no_engine():
        raise AssertionError("the Docker engine was asked for before the signature was checked")

    monkeypatch.setattr(docker_api, "client", no_engine)
    assert cli.main(["verify", "--image", ref, "--key", str(keys["pub"])]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"ptkit verify: error: image {ref} refused: unsigned: "), err
    assert "no signature" in err


@needs_tools
def test_a_retagged_image_is_refused(registry, keys, signer, tmp_path):
    ref = f"{registry.host}/team/retag:v1"
    signed = image(tmp_path, "first").push(ref)
    sign.sign(f"{registry.host}/team/retag@{signed}", signer)
    image(tmp_path, "second").push(ref)  # another image under the signed tag
    verdict = sign.verify_signature(ref, sign.read_key(keys["pub"], private=False))
    assert (verdict.ok, verdict.cause) == (False, "retagged"), verdict
    assert signed[:19] in verdict.detail  # it names the digest that is signed
    with pytest.raises(PtkitError, match="refused: retagged"):
        sign.require_signed(ref, sign.read_key(keys["pub"], private=False))


@needs_tools
def test_a_changed_layer_is_a_new_digest_and_refused(registry, keys, signer, tmp_path):
    repo = f"{registry.host}/team/layer"
    tiny = image(tmp_path, "layer")
    signed = tiny.push(f"{repo}:v1")
    sign.sign(f"{repo}@{signed}", signer)
    changed = tiny.add("extra.txt", "one more file").push(f"{repo}:v1")
    assert changed != signed
    pub = sign.read_key(keys["pub"], private=False)
    assert sign.verify_signature(f"{repo}@{signed}", pub).ok  # the signed digest still verifies
    verdict = sign.verify_signature(f"{repo}@{changed}", pub)
    assert (verdict.ok, verdict.cause) == (False, "changed"), verdict
    assert sign.verify_signature(f"{repo}:v1", pub).cause == "retagged"


@needs_tools
def test_a_signature_copied_onto_another_image_is_refused(registry, keys, signer, tmp_path):
    repo = f"{registry.host}/team/moved"
    signed = image(tmp_path, "moved-a").push(f"{repo}:a")
    other = image(tmp_path, "moved-b").push(f"{repo}:b")
    sign.sign(f"{repo}@{signed}", signer)

    def signature(digest: str) -> str:  # where cosign keeps a digest's signature
        return f"docker://{repo}:{digest.replace(':', '-')}.sig"

    run("skopeo", "copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false", signature(signed),
        signature(other))
    verdict = sign.verify_signature(f"{repo}:b", sign.read_key(keys["pub"], private=False))
    assert (verdict.ok, verdict.cause) == (False, "moved signature"), verdict


@needs_tools
def test_only_digests_are_signed(signer, registry):
    with pytest.raises(PtkitError, match="sign a digest"):
        sign.sign(f"{registry.host}/team/x:v1", signer)


# --- bad input: one line, exit 2, before any registry or engine is asked ---------------------------------------

@pytest.fixture
def pem_files(tmp_path) -> dict[str, Path]:
    private, public = tmp_path / "k.key", tmp_path / "k.pub"
    # The PEM headers cosign generate-key-pair writes (checked by the first test's real key pair too)
    private.write_text("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAAAA\n"
                       "-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    public.write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    return {"private": private, "public": public, "folder": tmp_path, "missing": tmp_path / "none.pub"}


@pytest.mark.parametrize("which, says", [("missing", "No such file"), ("folder", "folder"),
                                         ("private", "got a private key")])
def test_verify_key_bad_input_is_one_line_exit_2(pem_files, which, says, capsys):
    assert cli.main(["verify", "--image", "localhost:1/x:v1", "--key", str(pem_files[which])]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--key {pem_files[which]}: " in err and says in err, err


def test_verify_key_needs_image(pem_files, capsys):
    assert cli.main(["verify", "--key", str(pem_files["public"])]) == 2
    assert "--key goes with --image" in capsys.readouterr().err


@pytest.mark.parametrize("which, says", [("missing", "No such file"), ("public", "got a public key")])
def test_sign_key_bad_input_is_one_line_exit_2(pem_files, which, says, capsys, monkeypatch):
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD)
    variant = matrix_facts.default_variant().name
    assert cli.main(["build", variant, "--push", "--tag", "localhost:1/x:v1", "--sign", str(pem_files[which])]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--sign {pem_files[which]}: " in err and says in err, err


def test_sign_needs_push_and_a_password(pem_files, capsys, monkeypatch):
    variant = matrix_facts.default_variant().name
    assert cli.main(["build", variant, "--sign", str(pem_files["private"])]) == 2
    assert "--sign signs what --push pushes" in capsys.readouterr().err
    monkeypatch.delenv("COSIGN_PASSWORD", raising=False)
    assert cli.main(["build", variant, "--push", "--tag", "localhost:1/x:v1", "--sign", str(pem_files["private"])]) == 2
    assert "set COSIGN_PASSWORD" in capsys.readouterr().err
