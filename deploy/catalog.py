"""What Runpod offers, as its own tools name it: CPU instance ids, GPU pools, CUDA versions.

Sources: Runpod's deploy tool (runpod/flash: its CPU instance types, their container-disk
limits and its GPU pool enum) and its CLI (runpodctl: `saveEndpoint.gpuIds` takes pool ids,
not GPU type ids). A new id Runpod adds must be added here before a deployment can use it.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class CpuInstance:
    id: str
    vcpus: int
    memory_gb: int
    # Runpod refuses a bigger container disk on this instance: 10 GB per vCPU on cpu3*,
    # 15 GB per vCPU on cpu5c.
    max_container_disk_gb: int


def _cpu(family: str, vcpus: int, memory_gb: int) -> CpuInstance:
    per_vcpu = 15 if family == "cpu5c" else 10
    return CpuInstance(f"{family}-{vcpus}-{memory_gb}", vcpus, memory_gb, vcpus * per_vcpu)


CPU_INSTANCES: dict[str, CpuInstance] = {
    i.id: i
    for i in (
        *(_cpu("cpu3c", v, v * 2) for v in (1, 2, 4, 8)),
        *(_cpu("cpu3g", v, v * 4) for v in (1, 2, 4, 8)),
        *(_cpu("cpu5c", v, v * 2) for v in (1, 2, 4, 8)),
    )
}

GPU_POOLS = frozenset(
    {
        "AMPERE_16",
        "AMPERE_24",
        "ADA_24",
        "ADA_32_PRO",
        "AMPERE_48",
        "ADA_48_PRO",
        "AMPERE_80",
        "ADA_80_PRO",
        "HOPPER_141",
        "BLACKWELL_96",
        "BLACKWELL_180",
    }
)

# The data centers where Runpod runs CPU serverless workers. Runpod's API has no query for
# them: runpod/flash hard-codes the list (CPU_DATACENTERS in
# src/runpod_flash/core/resources/datacenter.py) and refuses a CPU endpoint elsewhere ("CPU
# endpoints are not available in: ..."). Update it from there when Runpod adds one.
CPU_DATA_CENTERS = frozenset({"EU-RO-1"})

# The Runpod SDK's start-up fitness check exits a worker whose available memory is below
# RUNPOD_MIN_MEMORY_GB (default 4 GiB); instances with at least this much pass it as they are.
SDK_DEFAULT_MIN_MEMORY_GB = 4
MEMORY_CHECK_SAFE_GB = 8


def cuda_version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))
