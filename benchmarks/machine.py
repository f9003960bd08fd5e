"""The machine a run measured: figures mean nothing without it."""

import os
import platform
import sys
from dataclasses import dataclass


@dataclass
class Machine:
    cores: int
    cpu: str
    gpu: str | None
    memory_gb: float | None
    torch: str
    python: str
    os: str
    # Other processes' load when the run started: on a shared machine, how noisy it was.
    load_average: float | None

    @property
    def device_type(self) -> str:
        """Where the inference worker runs its model on this machine: "cuda" or "cpu"."""
        return "cuda" if self.gpu else "cpu"

    def describe(self) -> str:
        gpu = f"GPU {self.gpu}" if self.gpu else "no GPU"
        memory = f", {self.memory_gb:.0f} GB memory" if self.memory_gb else ""
        return (
            f"{self.cores} cores ({self.cpu}){memory}, {gpu}; "
            f"torch {self.torch}, Python {self.python}, {self.os}"
        )


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError, AttributeError):
        return None


def this_machine() -> Machine:
    import torch

    # The cores this process may run on, which a container or taskset can make fewer than
    # the machine has.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return Machine(
        cores=cores or 1,
        cpu=_cpu_model(),
        gpu=gpu,
        memory_gb=_memory_gb(),
        torch=torch.__version__,
        python=platform.python_version(),
        os=f"{platform.system()} {platform.machine()}",
        load_average=load_average(),
    )


def load_average() -> float | None:
    """The one-minute load average, where the system has one."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


if __name__ == "__main__":
    sys.stdout.write(this_machine().describe() + "\n")
