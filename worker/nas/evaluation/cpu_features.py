"""What this worker's CPU offers for int8 and bf16 inference, recorded beside the latency figures.

int8 pays most on x86 where the CPU has VNNI (one instruction multiplies int8 and accumulates into int32)
or AMX tiles; without them the kernels widen products to int16 in extra instructions and gain less (the 60-min
spec's CNN: 2.1-2.2x with VNNI, 1.45-1.47x on AVX2 alone; docs/benchmarks.md).
"""

from __future__ import annotations

import platform
from functools import cache
from pathlib import Path

# The flags that matter for int8 / bf16 inference, as Linux's /proc/cpuinfo names them.
INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
NOTED_FLAGS = (*INT8_FLAGS, "avx512_bf16", "amx_bf16", "avx512f", "avx2")


def _cpuinfo_flags(path: Path = Path("/proc/cpuinfo")) -> set[str] | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):  # x86 / arm
            return set(line.split(":", 1)[1].split())
    return None


@cache
def cpu_features() -> dict[str, object]:
    """{model, flags (the noted ones present), int8_units (bool), source}. Off Linux, torch's capability
    string (e.g. AVX512) stands in; VNNI is then unknown (None)."""
    flags = _cpuinfo_flags()
    model = cpu_model()
    if flags is None:
        import torch

        cap = torch.backends.cpu.get_cpu_capability()
        return {"model": model, "flags": [cap.lower()], "int8_units": None, "source": "torch"}
    noted = [f for f in NOTED_FLAGS if f in flags]
    return {
        "model": model,
        "flags": noted,
        "int8_units": any(f in flags for f in INT8_FLAGS),
        "source": "/proc/cpuinfo",
    }


def describe() -> str:
    """One line for a summary or a model card: `AMD EPYC: avx512_vnni avx512_bf16 ...; int8 units: yes`."""
    f = cpu_features()
    units = {True: "yes (VNNI/AMX)", False: "no (no VNNI or AMX: int8 gains less)", None: "unknown"}
    flags = " ".join(f["flags"]) or "none of " + ", ".join(NOTED_FLAGS)  # type: ignore[arg-type]
    return f"{f['model']}: {flags}; int8 units: {units[f['int8_units']]}"  # type: ignore[index]


def cpu_model() -> str:
    """The CPU's model name (Linux), else what the platform module knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
