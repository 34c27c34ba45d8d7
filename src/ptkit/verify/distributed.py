"""`ptkit verify --distributed`, run under torchrun: collectives checked exactly, all-reduce bandwidth,
and a dead or hung peer turned into a FAIL naming it within a bounded time, never a hang.

Each rank writes REPORT_DIR/rank-N.json; rank 0 gathers every rank's result over the process group
(no shared filesystem needed) and writes the combined report (--report, REPORT_DIR/combined.json, and
one `REPORT_PREFIX{json}` line on stdout, for launchers that only keep logs). Exit codes: 0 every rank
passed, 1 a check failed, a peer was lost or a report could not be written, 2 usage error.
A killed peer breaks its connections at once, a hung one fails the pending collective after
--collective-timeout; naming the silent ranks takes 3 heartbeats (1.5 s): an exit within timeout + ~10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from datetime import timedelta
from typing import Any

from . import imports
from .cli import positive_int, positive_seconds
from .collectives import CHECKS, Ctx, Heartbeat, measure_allreduce
from .results import FAIL, PASS, SKIP, Report, describe, table, write_json_atomic

# What torchrun runs after its own options (one place: the Slurm, Kubernetes and Docker launchers use it).
ENTRY = ["-m", "ptkit", "verify", "--distributed"]
REPORT_PREFIX = "ptkit-distributed-report: "
COMBINED = "combined.json"
LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
# What a failed collective raises: torch's DistError family are RuntimeErrors; a store or socket gives OSError.
COLLECTIVE_ERRORS = (RuntimeError, OSError)
DEFAULT_SIZES = {"gloo": [1 << 10, 1 << 16, 1 << 20, 1 << 24], "nccl": [1 << 20, 1 << 24, 1 << 28, 1 << 30]}


class UsageError(Exception):
    pass


def say(line: str, stream: Any = None) -> None:
    """One line in one write: torchrun starts ranks with `python -u`, where print() writes the text and
    its newline separately, so two ranks' lines sharing a pipe interleave into one."""
    out = sys.stderr if stream is None else stream
    out.write(line + "\n")
    out.flush()


def _sizes(text: str) -> list[int]:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    try:
        sizes = [int(s[:-1]) * units[s[-1].upper()] if s[-1].upper() in units else int(s) for s in text.split(",")]
    except (ValueError, IndexError):
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected sizes of at least 1 byte like 1K,64K,1M,16M, got {text!r}")
    return sizes


def add_distributed_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--distributed", action="store_true", help="multi-process checks; run under torchrun")
    parser.add_argument("--backend", choices=("auto", "gloo", "nccl"), default="auto",
                        help="auto: nccl when a GPU is usable, else gloo")
    parser.add_argument("--collective-timeout", type=positive_seconds, default=60.0, metavar="S",
                        help="a collective not done in S seconds (dead or hung peer) is a FAIL (default 60)")
    parser.add_argument("--bandwidth-sizes", type=_sizes, metavar="1K,1M,...",
                        help="all-reduce message sizes (default gloo 1K-16M, nccl 1M-1G)")
    parser.add_argument("--bandwidth-iters", type=positive_int, default=10, metavar="N",
                        help="timed all-reduces per size")
    parser.add_argument("--report-dir", metavar="DIR",
                        help="each rank writes DIR/rank-N.json, rank 0 DIR/combined.json")


def launch_env(environ: dict[str, str]) -> dict[str, Any]:
    missing = [v for v in LAUNCH_VARS if v not in environ]
    if missing:
        raise UsageError(f"not launched by torchrun (missing {', '.join(missing)}): "
                         f"run `torchrun --nproc-per-node 2 {' '.join(ENTRY)}`")
    env: dict[str, Any] = {k.lower(): int(environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    env["master_addr"] = environ["MASTER_ADDR"]
    env["restart"] = environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    return env


def _init(torch: Any, args: argparse.Namespace, env: dict[str, Any]) -> Ctx:
    gpu = torch.cuda.is_available()
    backend = args.backend if args.backend != "auto" else ("nccl" if gpu else "gloo")
    device = "cpu"
    if backend == "nccl":
        device = f"cuda:{env['local_rank']}"
        torch.cuda.set_device(device)
    torch.distributed.init_process_group(backend, timeout=timedelta(seconds=args.collective_timeout))
    return Ctx(torch, env["rank"], env["world_size"], device, backend)


def _me(env: dict[str, Any]) -> dict[str, Any]:
    return {"rank": env["rank"], "local_rank": env["local_rank"], "host": socket.gethostname(), "pid": os.getpid()}


class Run:
    """One rank's run; stops issuing collectives after the first that raised (the group is broken)."""

    def __init__(self, args: argparse.Namespace, env: dict[str, Any]) -> None:
        self.args, self.env = args, env
        self.report = Report(environment=imports.environment())
        self.peers: list[dict[str, Any]] = [_me(env)]
        self.broken: str | None = None
        self.peer_trouble = False  # a collective failed (a peer may be lost), not ptkit's own code
        self.heartbeat: Heartbeat | None = None
        self.ctx: Ctx | None = None
        self.bandwidth: list[dict[str, Any]] = []
        self.meta: Any = None  # the group for object collectives (None: the default group)
        self.torch: Any = None

    def step(self, name: str, fn: Any) -> None:
        if self.broken:
            self.report.add(name, SKIP, "not run: " + self.broken)
            return
        with self.report.timed(name) as result:
            try:
                result(*fn())
            except COLLECTIVE_ERRORS as exc:  # what a broken process group raises (DistBackendError is one)
                self.broken, self.peer_trouble = "an earlier collective failed", True
                result(FAIL, self.lost_message(exc))
            except Exception as exc:  # noqa: BLE001 - ptkit's own error: said as such, never as a lost peer
                self.broken = f"an error on rank {self.env['rank']}"
                result(FAIL, f"{describe(exc)} (an error in ptkit's check on rank {self.env['rank']}, not a lost peer)")

    def lost_message(self, exc: BaseException) -> str:
        timeout = self.args.collective_timeout
        lost = self.heartbeat.lost(self.env["world_size"]) if self.heartbeat else []
        if lost is None:
            who = "the rendezvous store on {} (node of rank 0) is unreachable".format(self.env["master_addr"])
        elif lost:
            hosts = {p["rank"]: p for p in self.peers}
            who = "lost peer(s): " + ", ".join(
                f"rank {r} (host {hosts.get(r, {}).get('host', '?')}, pid {hosts.get(r, {}).get('pid', '?')})"
                for r in lost)
        else:
            who = "every peer still answers"
        return f"{who} (collective timeout {timeout:g}s): {describe(exc)}"

    def _rendezvous(self) -> tuple[str, str]:
        torch = self.torch
        self.ctx = _init(torch, self.args, self.env)
        prefix = "ptkit/heartbeat/{}/".format(self.env["restart"])
        self.heartbeat = Heartbeat(torch, self.env["master_addr"], self.env["master_port"], self.env["rank"], prefix)
        # Object collectives go over gloo: NCCL would need them on a GPU.
        self.meta = torch.distributed.new_group(backend="gloo") if self.ctx.backend == "nccl" else None
        gathered: list[Any] = [None] * self.ctx.n
        torch.distributed.all_gather_object(gathered, _me(self.env), group=self.meta)
        self.peers = gathered
        hosts = sorted({p["host"] for p in gathered})
        return PASS, f"{self.ctx.backend}, {self.ctx.n} ranks on {len(hosts)} host(s): {', '.join(hosts)}"

    def _bandwidth(self) -> tuple[str, str]:
        ctx = self.ctx
        assert ctx is not None
        say(f"ptkit distributed: rank {ctx.rank} measuring all-reduce bandwidth")
        for size in self.args.bandwidth_sizes or DEFAULT_SIZES[ctx.backend]:
            self.bandwidth.append(measure_allreduce(ctx, size, self.args.bandwidth_iters))
        best = max(self.bandwidth, key=lambda b: b["busbw_gbps"])
        return PASS, f"best bus bandwidth {best['busbw_gbps']:.3f} GB/s at {best['bytes']} bytes"

    def execute(self, torch: Any) -> None:
        self.torch = torch
        with self.report.guarded("build"):
            imports.check_build(self.report, torch)
        self.step("rendezvous", self._rendezvous)
        for name, fn in CHECKS:
            self.step(name, lambda fn=fn: fn(self.ctx))
        self.step("allreduce_bandwidth", self._bandwidth)

    def summary(self) -> dict[str, Any]:
        me = _me(self.env)
        failed = [c.name for c in self.report.checks if c.status == FAIL]
        return {"rank": me["rank"], "local_rank": me["local_rank"], "host": me["host"], "ok": not failed,
                "failed": failed}

    def gather_ranks(self) -> list[dict[str, Any]]:
        """Every rank's summary (rank 0 uses them); a lost rank is reported as such, not waited for."""
        mine = self.summary()
        if self.broken:
            unknown = "unknown: peer lost" if self.peer_trouble else f"unknown: not gathered after {self.broken}"
            known = {p["rank"]: p for p in self.peers}
            return [mine if r == mine["rank"] else
                    {"rank": r, "local_rank": known.get(r, {}).get("local_rank", -1),
                     "host": known.get(r, {}).get("host", "?"), "ok": False, "failed": [unknown]}
                    for r in range(self.env["world_size"])]
        out: list[Any] = [None] * self.env["world_size"]
        self.step("gather_results", lambda: self._gather(mine, out))
        return out if not self.broken else self.gather_ranks()

    def _gather(self, mine: dict[str, Any], out: list[Any]) -> tuple[str, str]:
        self.torch.distributed.all_gather_object(out, mine, group=self.meta)
        if mine["rank"] != 0:
            return PASS, "results sent to rank 0"
        bad = [r for r in out if not r["ok"]]
        detail = "; ".join(f"rank {r['rank']} ({r['host']}) failed {', '.join(r['failed'])}" for r in bad)
        return (FAIL, detail) if bad else (PASS, "every rank passed")

    def block(self, ranks: list[dict[str, Any]]) -> dict[str, Any]:
        return {"world_size": self.env["world_size"], "backend": self.ctx.backend if self.ctx else "unknown",
                "collective_timeout_s": float(self.args.collective_timeout), "ranks": ranks,
                "bandwidth": self.bandwidth}


def run_distributed(args: argparse.Namespace, environ: dict[str, str] | None = None,
                    unwritten: list[str] | None = None) -> dict[str, Any]:
    """This rank's run; returns the report (schema ptkit.verify/1 plus a `distributed` block):
    the combined one on rank 0, this rank's own elsewhere. Raises UsageError outside torchrun."""
    env = launch_env(dict(os.environ) if environ is None else environ)
    run = Run(args, env)
    torch = imports.check_import(run.report, "torch", required=True)
    ranks = [run.summary()]
    if torch is not None:
        run.execute(torch)
        ranks = run.gather_ranks()
    own = {**run.report.to_dict(), "distributed": run.block([run.summary()])}
    write_report(args.report_dir and os.path.join(args.report_dir, f"rank-{env['rank']}.json"), own, unwritten)
    if run.heartbeat:
        run.heartbeat.stop()
    if run.ctx and not run.broken:
        torch.distributed.destroy_process_group()
    if env["rank"] != 0:
        return own
    combined = {**own, "distributed": run.block(ranks)}
    combined["ok"] = own["ok"] and all(r["ok"] for r in ranks)
    write_report(args.report_dir and os.path.join(args.report_dir, COMBINED), combined, unwritten)
    return combined


def write_report(path: str | None, data: dict[str, Any], unwritten: list[str] | None) -> None:
    """A report file (none without a path) that cannot be written is one line and exit 1, not a traceback."""
    if not path:
        return
    try:
        write_json_atomic(data, path)
    except OSError as exc:
        say(f"ptkit verify --distributed: could not write the report to {path}: {exc.strerror or exc}")
        if unwritten is not None:
            unwritten.append(path)


def render(data: dict[str, Any]) -> str:
    block = data["distributed"]
    rows = [["rank", "local", "host", "result"]]
    rows += [[str(r["rank"]), str(r["local_rank"]), r["host"], "ok" if r["ok"] else "FAIL: " + ", ".join(r["failed"])]
             for r in block["ranks"]]
    lines = [f"ptkit verify --distributed: {block['world_size']} ranks, {block['backend']}, "
             f"collective timeout {block['collective_timeout_s']:g}s", "", *table(rows)]
    if block["bandwidth"]:
        bw = [["bytes", "dtype", "median ms", "algbw GB/s", "busbw GB/s"]]
        bw += [[str(b["bytes"]), b["dtype"], "%.3f" % (b["median_s"] * 1e3), "{:.3f}".format(b["algbw_gbps"]),
                "{:.3f}".format(b["busbw_gbps"])] for b in block["bandwidth"]]
        lines += ["", *table(bw)]
    failures = [c for c in data["checks"] if c["status"] == FAIL]
    lines += ["{}: {}".format(c["name"], c["detail"]) for c in failures]
    return "\n".join([*lines, "", "verify --distributed: " + ("PASS" if data["ok"] else "FAIL")])


def distributed_main(args: argparse.Namespace) -> int:
    """What `ptkit verify --distributed` runs: the report as text (rank 0) or JSON, and the exit code."""
    unwritten: list[str] = []
    try:
        data = run_distributed(args, unwritten=unwritten)
    except UsageError as exc:
        say(f"ptkit verify --distributed: {exc}")
        return 2
    rank = data["distributed"]["ranks"][0]["rank"]  # rank 0's combined list starts with itself
    if rank == 0:
        write_report(getattr(args, "report", None), data, unwritten)
        say(json.dumps(data, indent=2) if getattr(args, "json", False) else render(data), sys.stdout)
        say(REPORT_PREFIX + json.dumps(data, separators=(",", ":")), sys.stdout)
    elif not data["ok"]:
        failed = [c for c in data["checks"] if c["status"] == FAIL]
        say(f"ptkit verify --distributed: rank {rank}: {failed[0]['name']}: {failed[0]['detail']}")
    return 0 if data["ok"] and not unwritten else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ptkit.verify.distributed", description=__doc__.split("\n")[0])
    add_distributed_args(parser)
    parser.add_argument("--json", action="store_true", help="print the JSON report (rank 0)")
    parser.add_argument("--report", metavar="FILE", help="rank 0 also writes the combined report to FILE")
    leave(distributed_main(parser.parse_args(argv)))
    return 1  # not reached


def leave(code: int) -> None:
    """End the process: after a lost peer the process group's threads may still be blocked on it, and a
    normal interpreter exit would wait for them (the fault test hung). Output is flushed first."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
