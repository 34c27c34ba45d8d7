"""`ptkit sbom IMAGE`: a CycloneDX 1.6 SBOM made with the cyclonedx library (never hand-written JSON):
the image as the root component, its Python distributions (with the sha256 of the installed wheels
where the manifest knows them) and its Debian packages.

No vulnerabilities: matching components to advisories needs an advisory database (OSV, NVD, Debian's
security tracker), which is not reachable from the build hosts.
"""

from __future__ import annotations

from typing import Any

from ..errors import PtkitError

SPEC = "1.6"


def _imports() -> tuple[Any, ...]:
    try:
        from cyclonedx.model import HashAlgorithm, HashType
        from cyclonedx.model.bom import Bom
        from cyclonedx.model.component import Component, ComponentType
        from packageurl import PackageURL
    except ImportError:
        raise PtkitError("the cyclonedx library is missing: pip install 'ptkit[dev]'") from None
    return Bom, Component, ComponentType, HashAlgorithm, HashType, PackageURL


def build(image: str, image_id: str | None, manifest: dict[str, Any]) -> Any:
    """The Bom of an image from its manifest (or a manifest-shaped live inventory)."""
    bom_cls, component, kind, algorithm, hash_type, purl = _imports()
    digest = (image_id or "").removeprefix("sha256:")
    root = component(name=image, version=image_id or "unknown", type=kind.CONTAINER, bom_ref=image,
                     hashes=[hash_type(alg=algorithm.SHA_256, content=digest)] if digest else None)
    bom = bom_cls()
    bom.metadata.component = root
    try:
        children = _children(manifest, component, algorithm, hash_type, purl)
    except (KeyError, TypeError, AttributeError) as exc:  # a hand-made or damaged manifest: one line, no traceback
        raise PtkitError(f"{image}: its manifest is malformed (no {exc} where a package table or field belongs), "
                         "no SBOM made") from None
    for child in children:
        bom.components.add(child)
    bom.register_dependency(root, children)
    return bom


def _children(manifest: dict[str, Any], component: Any, algorithm: Any, hash_type: Any, purl: Any) -> list[Any]:
    """A component per Python distribution (with its wheels' sha256) and per Debian package (with its arch)."""
    children = []
    for name, info in sorted(manifest["python"]["packages"].items()):
        children.append(component(
            name=name, version=info["version"], bom_ref=f"pypi:{name}@{info['version']}",
            purl=purl(type="pypi", name=name, version=info["version"]),
            hashes=[hash_type(alg=algorithm.SHA_256, content=h) for h in info.get("sha256", [])]))
    for name, info in sorted((manifest.get("debian", {}).get("packages") or {}).items()):
        children.append(component(
            name=name.split(":")[0], version=info["version"], bom_ref=f"deb:{name}@{info['version']}",
            purl=purl(type="deb", namespace="debian", name=name.split(":")[0], version=info["version"],
                      qualifiers={"arch": info["arch"]})))
    return children


def to_json(bom: Any) -> str:
    from cyclonedx.output.json import JsonV1Dot6

    return JsonV1Dot6(bom).output_as_string(indent=2)


def validate(text: str) -> list[str]:
    """The schema errors of a CycloneDX 1.6 JSON document (the library's strict validator); [] when valid."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text, all_errors=True)
    return [str(e) for e in errors or []]


def live_manifest(live: dict[str, Any]) -> dict[str, Any]:
    """An image without a manifest: its live inventory in the manifest's shape (no wheel hashes)."""
    return {"python": {"packages": live["python"]}, "debian": {"packages": live["debian"]}}

