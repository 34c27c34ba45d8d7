"""`ptkit cluster k8s`: Kubernetes objects that run `verify --distributed` on N pods.

Default: an Indexed Job (one pod per node, pod N is `JOB-N.SERVICE`) plus a headless Service that
gives pod 0 a stable DNS name for torchrun's rendezvous. `--operator kubeflow`: a PyTorchJob for
the Kubeflow training operator, which sets torchrun's PET_* variables itself. Either way: GPU
limits, a memory-backed /dev/shm, and the image's non-root user (uid 1000). The combined report
is the `REPORT_PREFIX` line in pod 0's log (no shared volume needed):

    kubectl logs job/NAME | sed -n 's/^ptkit-distributed-report: //p' > combined.json
"""

from __future__ import annotations

from typing import Any

from ..images import VARIANT_LABEL
from ..verify.distributed import ENTRY
from .launch import IMAGE_UID, REPORTS_IN_CONTAINER, Job, torchrun_args

OPERATORS = ("job", "kubeflow")
SHM_LIMIT = "8Gi"  # DataLoader workers and NCCL's shared-memory transport live in /dev/shm


def _name(job: Job) -> str:
    return f"ptkit-verify-{job.variant}".replace("_", "-")


def container(job: Job, command: list[str]) -> dict[str, Any]:
    limits = {"nvidia.com/gpu": job.gpus_per_node} if job.gpus_per_node else {}
    spec: dict[str, Any] = {
        "name": "pytorch",  # the Kubeflow operator requires this container name; harmless elsewhere
        "image": job.image,
        "command": command,
        "ports": [{"name": "rdzv", "containerPort": job.port}],
        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    if limits:
        spec["resources"] = {"limits": limits}
    return spec


def pod_spec(job: Job, command: list[str], restart: str = "Never") -> dict[str, Any]:
    return {
        "restartPolicy": restart,
        "securityContext": {"runAsUser": IMAGE_UID, "runAsGroup": IMAGE_UID, "runAsNonRoot": True,
                            "fsGroup": IMAGE_UID, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container(job, command)],
        "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": SHM_LIMIT}}],
    }


def indexed_job(job: Job) -> list[dict[str, Any]]:
    name = _name(job)
    labels = {"app.kubernetes.io/name": "ptkit-verify", VARIANT_LABEL: job.variant}
    head = f"{name}-0.{name}"  # pod 0's hostname within the Service's subdomain
    command = ["torchrun", *torchrun_args(job, head, name, REPORTS_IN_CONTAINER)]
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": labels},
        "spec": {"clusterIP": "None", "selector": {"job-name": name}, "publishNotReadyAddresses": True,
                 "ports": [{"name": "rdzv", "port": job.port, "targetPort": job.port}]},
    }
    spec = {**pod_spec(job, command), "subdomain": name}
    batch = {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "labels": labels},
        "spec": {"completionMode": "Indexed", "completions": job.nodes, "parallelism": job.nodes,
                 "backoffLimit": 0, "activeDeadlineSeconds": job.join_timeout + 1800,
                 "template": {"metadata": {"labels": labels}, "spec": spec}},
    }
    return [service, batch]


def pytorch_job(job: Job) -> list[dict[str, Any]]:
    """Kubeflow PyTorchJob: the operator creates the pods and the master Service and sets PET_NNODES,
    PET_NPROC_PER_NODE, PET_MASTER_ADDR/PORT, which torchrun reads."""
    command = ["torchrun", *ENTRY, "--collective-timeout", f"{job.collective_timeout:g}",
               "--report-dir", REPORTS_IN_CONTAINER]

    def replicas(count: int) -> dict[str, Any]:
        return {"replicas": count, "restartPolicy": "Never",
                "template": {"spec": pod_spec(job, command)}}

    specs = {"Master": replicas(1)}
    if job.nodes > 1:
        specs["Worker"] = replicas(job.nodes - 1)
    return [{
        "apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": _name(job)},
        "spec": {"nprocPerNode": str(job.procs_per_node), "pytorchReplicaSpecs": specs,
                 "runPolicy": {"backoffLimit": 0, "cleanPodPolicy": "None"}},
    }]


def manifests(job: Job, operator: str = "job") -> list[dict[str, Any]]:
    if operator not in OPERATORS:
        raise ValueError(f"operator {operator!r}: one of {', '.join(OPERATORS)}")
    return indexed_job(job) if operator == "job" else pytorch_job(job)
