"""Suggested Fargate task size: the smallest (cpu, memory) pair Fargate accepts that covers what
the runtime needs, with the arithmetic spelled out in the reason.

The per-process figures are deliberately round, conservative resident-set estimates for a small
service of each kind; the reason always shows them so a user can redo the sum with real numbers
(``docker stats``, Container Insights) and adjust ``service.memory``.
"""

from __future__ import annotations

import math

from components.settings import FARGATE_SIZES

HEADROOM_MIB = 128
"""Room for the health check's curl, page cache and spikes on top of the processes."""

PROCESS_MIB = {
    "flask": 100,
    "fastapi": 100,
    "django": 150,
    "express": 150,
    "nestjs": 200,
    "nextjs": 400,
    "net/http": 64,
    "gin": 64,
    "rails": 300,
    "aspnetcore": 300,
}
"""Resident memory of one server process (worker) of each framework, MiB."""

JVM_DEFAULT_MIB = 2048
"""Spring Boot on the JVM: heap, metaspace, code cache and thread stacks."""
JVM_HEAP_FRACTION = 0.75
"""The generated Dockerfile runs java with -XX:MaxRAMPercentage=75: the heap gets 75 % of the task."""
JVM_MIN_CPU = 1024
"""Below one vCPU a Spring Boot start takes long enough to fail the health check grace period."""


def fargate_pair(cpu_need: int, memory_need: int) -> tuple[int, int]:
    """The cheapest valid Fargate size with at least ``cpu_need`` units and ``memory_need`` MiB."""
    for cpu, memories in FARGATE_SIZES.items():
        if cpu < cpu_need:
            continue
        for memory in memories:
            if memory >= memory_need:
                return cpu, memory
    raise ValueError(f"no Fargate size has {cpu_need} CPU units and {memory_need} MiB")


def cpu_for_processes(processes: int) -> int:
    """256 CPU units (a quarter vCPU) per two processes, at most one vCPU: workers that share less
    stall each other's requests; more than a vCPU is a scaling decision, not a sizing rule."""
    return min(1024, 256 * max(1, math.ceil(processes / 2)))


def for_processes(framework: str, processes: int, why_processes: str) -> tuple[dict[str, int], str]:
    """Size for ``processes`` server processes of ``framework``."""
    per = PROCESS_MIB[framework]
    need = per * processes + HEADROOM_MIB
    cpu, memory = fargate_pair(cpu_for_processes(processes), need)
    reason = (
        f"{why_processes}: {processes} x ~{per} MiB ({framework}) + {HEADROOM_MIB} MiB headroom "
        f"= {need} MiB -> cpu {cpu} / memory {memory}, the smallest pair Fargate accepts"
    )
    return {"cpu": cpu, "memory": memory}, reason


def for_jvm(max_heap_mib: int | None, why_heap: str) -> tuple[dict[str, int], str]:
    """Size for a JVM: the heap is 75 % of the task, at least :data:`JVM_DEFAULT_MIB`."""
    if max_heap_mib is None:
        need = JVM_DEFAULT_MIB
        basis = (
            f"JVM: heap ({int(JVM_HEAP_FRACTION * 100)} % of the task with "
            f"-XX:MaxRAMPercentage=75), metaspace and threads need about {need} MiB"
        )
    else:
        need = max(JVM_DEFAULT_MIB, math.ceil(max_heap_mib / JVM_HEAP_FRACTION))
        basis = (f"JVM: {why_heap} sets the heap to {max_heap_mib} MiB; the heap should be at most "
                 f"{int(JVM_HEAP_FRACTION * 100)} % of the task -> {need} MiB")  # fmt: skip
    cpu, memory = fargate_pair(JVM_MIN_CPU, need)
    reason = (f"{basis}; at least {JVM_MIN_CPU} CPU units for a timely Spring Boot start "
              f"-> cpu {cpu} / memory {memory}")  # fmt: skip
    return {"cpu": cpu, "memory": memory}, reason
