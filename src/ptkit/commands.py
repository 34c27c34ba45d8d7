"""The thin `cmd_*` functions of the `ptkit` command: arguments in, typed values to `pipeline` and
the steps, results out. Imports are lazy so that `ptkit verify` inside an image needs only torch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from .errors import PtkitError, UsageError
from .verify import cli as verify_cli


def _inputs(args: argparse.Namespace) -> Any:
    from .inputs import BuildInputs

    return BuildInputs(
        base_image=args.base_image, index_url=args.index_url, extra_index_url=args.extra_index_url,
        team_index_url=args.team_index_url, wheelhouse=args.wheelhouse, ca_bundle=args.ca_bundle,
        lock=args.lock, packages=tuple(args.packages.split()) if args.packages else None,
        no_cache=args.no_cache, team_requirements=args.extra_requirements, installer=args.installer,
    )


def _build_request(args: argparse.Namespace) -> Any:
    """The pipeline's request (which images, from which inputs) from the build options."""
    from . import matrix, pipeline
    from .images import FLAVORS
    from .inputs import Destination

    if args.push and not args.tag:
        raise UsageError("--push needs --tag REGISTRY/REPOSITORY:TAG (ptkit:* tags stay local)")
    flavors = FLAVORS if args.flavor == "all" else (args.flavor,)
    if args.extra_requirements and "devel" not in flavors:
        raise UsageError("--extra-requirements builds on the devel flavor: drop --flavor runtime")
    m = matrix.load(args.matrix)
    variant = m.get(args.variant, args.source)
    return pipeline.request(m, variant, _inputs(args), Destination(tuple(args.tag), args.push), flavors,
                            variant.on(args.platform))


def _signed_request(args: argparse.Namespace) -> Any:
    """The build request with --sign's key, read and checked before the build (a bad key fails in a second)."""
    import dataclasses

    from .repro import sign

    if args.sign and not args.push:
        raise UsageError("--sign signs what --push pushes: add --push and --tag REGISTRY/REPOSITORY:TAG")
    req = _build_request(args)
    return dataclasses.replace(req, signer=sign.signing_key(args.sign)) if args.sign else req


def cmd_build(args: argparse.Namespace) -> int:
    from . import pipeline

    built, pushed = pipeline.build_and_push(_signed_request(args))
    print(json.dumps([{"image": b.image, "image_id": b.image_id, "flavor": b.desc.flavor, "tags": b.desc.tags,
                       "pushed": pushed.get(b.image, {})} for b in built], indent=2))
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    from . import image_index, pipeline

    if "@" in args.ref or len(args.images) < 2:
        raise UsageError("usage: ptkit index REGISTRY/REPOSITORY:TAG IMAGE IMAGE... (a tag; one image a platform)")
    index = pipeline.publish_index(args.ref, args.images, args.insecure or image_index.loopback(args.ref))
    if args.json:
        print(json.dumps({"ref": index.ref, "digest": index.digest, "platforms": index.platforms}, indent=2))
    else:
        print(f"{index.ref}@{index.digest}")
        print("\n".join(f"  {platform}  {digest}" for platform, digest in index.platforms.items()))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from . import pipeline, report

    results = pipeline.check(_signed_request(args), gpu=args.gpu, reports=args.reports)
    for path, result in results:
        print(report.summary(result))
        print(f"report: {path}", file=sys.stderr)
    failed = [f"{path}: {report.first_failure(r)}" for path, r in results if not r.ok]
    if failed:
        raise PtkitError(f"verification failed: {'; '.join(failed)}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    if args.distributed:
        if args.image:
            raise UsageError("--distributed runs under torchrun in the image; for containers: nox -s distributed")
        from .verify import distributed

        code = distributed.distributed_main(args)
        if os.environ.get("WORLD_SIZE"):  # under torchrun (in-process callers outside it keep their process)
            distributed.leave(code)
        return code
    if not args.image:
        if given := next((f"--{name}" for name in ("variant", "key", "platform") if getattr(args, name, None)), None):
            raise UsageError(f"{given} goes with --image")
        return verify_cli.verify_main(args)
    from . import matrix, pipeline, report
    from .repro import sign
    from .verify.options import VerifyOptions

    variant = matrix.load(args.matrix).get(args.variant) if args.variant else None
    from .platforms import PLATFORMS

    how = pipeline.Verification(VerifyOptions.from_namespace(args), variant, args.gpu, args.timeout,
                                platform=PLATFORMS[args.platform] if args.platform else None)
    key = sign.read_key(args.key, private=False) if args.key else None
    result = pipeline.verify_image(args.image, how, Path(args.report) if args.report else None, key)
    print(json.dumps(result.to_dict(), indent=2) if args.json else report.summary(result))
    if not result.ok:
        raise PtkitError(f"verification of {args.image} failed: {report.first_failure(result)}")
    return 0


def cmd_distributed(args: argparse.Namespace) -> int:
    """`nox -s distributed -- VARIANT ...`: torchrun across N containers of the image `ptkit build` makes."""
    from . import matrix, pipeline
    from .cluster.launch import job_from_args
    from .inputs import BuildInputs

    m = matrix.load(args.matrix)
    job = job_from_args(args, m)
    build = None if args.no_build or args.image else pipeline.request(m, m.get(args.variant, args.source),
                                                                      _inputs(args), flavors=("devel",))
    run = pipeline.MultiNode(job, tuple(args.verify_arg), args.deadline, args.reports)
    # Build options given: build with them; none: the image built from this commit (main.sh's) is used as it is.
    combined, reason = pipeline.distributed(build, run, rebuild=_inputs(args) != BuildInputs())
    if reason:
        raise PtkitError(f"FAIL: {reason}")
    print(f"distributed: PASS: {job.nodes * job.procs_per_node} ranks on {job.nodes} containers; report {combined}")
    return 0


def cmd_matrix(args: argparse.Namespace) -> int:
    from . import matrix
    from .verify.results import table

    m = matrix.load(args.matrix)
    if args.json:
        print(json.dumps({name: v.to_dict() for name, v in m.variants.items()}, indent=2))
        return 0
    cols = ("torch", "torchvision", "torchaudio", "python", "cuda", "min_driver", "source", "index_url")
    every = [v for row in m.variants.values() for v in (row, *map(row.from_source, row.alternatives))]
    rows = [["variant", *cols, "platforms"]] + [[v.name, *(getattr(v, c) or "-" for c in cols), ",".join(v.platforms)]
                                               for v in every]
    print("\n".join(table(rows)))
    return 0


def cmd_wheelhouse(args: argparse.Namespace) -> int:
    from . import locks, toolchain, wheels
    from .inputs import UV_VERSION

    variant, (reqs, expected) = _row_requirements(args)
    platform = variant.on(args.platform)
    if args.lock:
        locks.check_lock(args.lock, expected)  # a lock of another variant is refused before any download
    indexes = wheels.Indexes(args.index_url, args.extra_index_url, args.use_variant_index)
    lock = wheels.wheelhouse(variant, reqs, args.dest, indexes=indexes, lock=args.lock, platform=platform)
    uv = wheels.add_uv(variant, args.dest, args.index_url, platform)
    # the devel flavor's compiler (CUDA 13), for the image's platform
    nvcc = toolchain.add_compiler_wheels(variant, args.dest, args.lock, platform)
    print(f"wheelhouse {args.dest}: {len(locks.locked_files(lock))} wheels, lock {lock}"
          f"{f'; also uv {UV_VERSION} for --installer uv (not in the lock)' if uv else ''}"
          f"{'; also the devel compiler, lock ' + str(toolchain.compiler_lock_path(lock)) if nvcc else ''}")
    return 0


def _row_requirements(args: argparse.Namespace) -> tuple[Any, tuple[list[str], dict[str, str]]]:
    """The row (and --source) the arguments name, and its requirement lines and pins (--packages overrides)."""
    from . import matrix, render

    variant = matrix.load(args.matrix).get(args.variant, args.source)
    return variant, render.requirements(variant, args.packages.split() if args.packages else None)


def cmd_lock(args: argparse.Namespace) -> int:
    from . import images, locks

    variant, (reqs, _) = _row_requirements(args)
    platform = variant.on(args.platform)
    out = args.output or images.lock_path(variant, platform)
    text = locks.write_lock(out, lambda: locks.resolve(variant, reqs, isolated=args.isolated, ca_bundle=args.ca_bundle,
                                                       platform=platform))
    print(f"lock {out}: {len(locks.lock_pins(text))} wheels pinned by hash")
    return 0


def cmd_base(args: argparse.Namespace) -> int:
    from . import base, docker_api
    from .platforms import PLATFORMS

    print(base.make_base(docker_api.client(), args.tag, args.suite, args.mirror, platform=PLATFORMS[args.platform],
                         if_missing=args.if_missing))
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from . import locks, matrix, render

    m = matrix.load(args.matrix)
    files = {args.out / f"{v.name}.yml": render.conda_env(v) for v in m.variants.values()}
    doc = m.path.resolve().parent / render.DRIVER_DOC  # a checkout's; a team's matrix has none beside it
    if doc.is_file():
        files[doc] = render.with_driver_table(doc.read_text())
    if args.check:
        stale = [str(p) for p, text in files.items() if not p.is_file() or p.read_text() != text]
        if stale:
            raise PtkitError(f"out of date with {m.path}: {', '.join(stale)} (run `ptkit render`)")
        if stale_locks := locks.out_of_date(m, m.path.resolve().parent):
            raise PtkitError(f"locks out of date with {m.path}: {', '.join(stale_locks)}")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        path.write_text(text)
        print(f"wrote {path}")
    return 0
