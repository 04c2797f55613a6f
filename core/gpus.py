"""GPUs: inventory from NVML, per-rank CUDA_VISIBLE_DEVICES, and the mixed-model check.

Imported by the job-side launcher, so it uses only the standard library at import time;
`nvidia-ml-py` (module `pynvml`) is loaded lazily and its absence, or a machine without a
driver or GPU, simply means "no GPU".
"""

from __future__ import annotations

from dataclasses import dataclass, field

GPU_MODES = ("exclusive", "shared", "mig")


@dataclass
class MigDevice:
    uuid: str
    profile: str
    memory_mb: int


@dataclass
class Gpu:
    index: int
    uuid: str
    model: str
    memory_mb: int
    mig: list[MigDevice] = field(default_factory=list)


def inventory() -> list[Gpu]:
    """This node's GPUs (with their MIG instances); [] when NVML is missing or finds none."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:  # NVMLError_LibraryNotFound, DriverNotLoaded ...: no GPU here
        return []
    try:
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            gpu = Gpu(index=i, uuid=_text(pynvml.nvmlDeviceGetUUID(h)),
                      model=_text(pynvml.nvmlDeviceGetName(h)),
                      memory_mb=int(pynvml.nvmlDeviceGetMemoryInfo(h).total // 2**20))
            gpu.mig = _mig_devices(pynvml, h)
            out.append(gpu)
        return out
    except pynvml.NVMLError:
        return []
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass


def _mig_devices(pynvml, handle) -> list[MigDevice]:  # type: ignore[no-untyped-def]
    try:
        current, _pending = pynvml.nvmlDeviceGetMigMode(handle)
    except pynvml.NVMLError:  # GPU without MIG support
        return []
    if current != pynvml.NVML_DEVICE_MIG_ENABLE:
        return []
    out = []
    for j in range(pynvml.nvmlDeviceGetMaxMigDeviceCount(handle)):
        try:
            m = pynvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, j)
        except pynvml.NVMLError:
            continue
        out.append(MigDevice(uuid=_text(pynvml.nvmlDeviceGetUUID(m)),
                             profile=_text(pynvml.nvmlDeviceGetName(m)),
                             memory_mb=int(pynvml.nvmlDeviceGetMemoryInfo(m).total // 2**20)))
    return out


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def visible_devices(gpu_mode: str | None, slots: list[int], gpus: list[Gpu]) -> str:
    """CUDA_VISIBLE_DEVICES for the GPU slots a scheduler granted.

    Exclusive and shared slots are GPU indexes. MIG slots number the MIG instances of the node
    in inventory order, and CUDA addresses those by their MIG-... UUID.
    """
    if gpu_mode == "mig":
        migs = [m.uuid for g in gpus for m in g.mig]
        return ",".join(migs[s] for s in slots if s < len(migs))
    return ",".join(str(s) for s in slots)


def rank_devices(visible: str, local_rank: int, per_rank: int) -> str:
    """The slice of the job's visible devices that one local rank owns."""
    devices = [d for d in visible.split(",") if d]
    if per_rank <= 0 or not devices:
        return visible
    mine = devices[local_rank * per_rank:(local_rank + 1) * per_rank]
    return ",".join(mine or devices)


def model_of(device: str, gpus: list[Gpu]) -> str | None:
    """The GPU model behind one CUDA_VISIBLE_DEVICES entry (an index or a GPU/MIG UUID)."""
    for g in gpus:
        if device in (str(g.index), g.uuid) or any(device == m.uuid for m in g.mig):
            return g.model
    return None


def mixed_models(models_by_rank: dict[int, str | None]) -> str | None:
    """Why a multi-rank job must not start when its ranks got different GPU models, or None.

    Horovod and NCCL collectives hang when ranks run on different models (the product's FAQ
    18: "One or more tensors were submitted to be reduced ... by subset of ranks").
    """
    known = {r: m for r, m in models_by_rank.items() if m}
    models = sorted(set(known.values()))
    if len(known) < 2 or len(models) < 2:
        return None
    detail = "; ".join(f"{m}: rank(s) {','.join(str(r) for r, x in sorted(known.items()) if x == m)}"
                       for m in models)
    return (f"the allocation mixes GPU models ({detail}); collective operations hang across "
            f"models, so the job was not started. Choose a resource spec with a GPU type.")


def usage(visible: str | None, pids: list[int]) -> tuple[list[dict[str, object]], str]:
    """Utilisation and memory of the GPUs a service sees, and the memory its processes hold.

    `visible` is the job's CUDA_VISIBLE_DEVICES (indexes or GPU UUIDs; MIG instances are shown
    as their parent GPU). Returns (per-GPU dicts, note); the note says why the list is empty:
    no GPU granted, or no NVML / driver / GPU on the node ("no GPU").
    """
    devices = [d.strip() for d in (visible or "").split(",") if d.strip()]
    if not devices:
        return [], "no GPU granted"
    try:
        import pynvml
    except ImportError:
        return [], "no GPU (nvidia-ml-py is not installed)"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded ...
        return [], f"no GPU ({exc})"
    try:
        mine = set(pids)
        out: list[dict[str, object]] = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            uuid = _text(pynvml.nvmlDeviceGetUUID(h))
            if str(i) not in devices and uuid not in devices and not any(d.startswith("MIG-") for d in devices):
                continue
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            try:
                util: object = pynvml.nvmlDeviceGetUtilizationRates(h).gpu
            except pynvml.NVMLError:  # MIG mode: no whole-GPU utilisation
                util = None
            procs = pynvml.nvmlDeviceGetComputeRunningProcesses(h)
            used_by_service = sum((p.usedGpuMemory or 0) for p in procs if p.pid in mine)
            out.append({"index": i, "uuid": uuid, "model": _text(pynvml.nvmlDeviceGetName(h)),
                        "utilization_percent": util, "memory_used_mb": int(mem.used // 2**20),
                        "memory_total_mb": int(mem.total // 2**20),
                        "service_memory_mb": int(used_by_service // 2**20)})
        return out, "" if out else "no GPU (the granted devices are not on this node)"
    except pynvml.NVMLError as exc:
        return [], f"no GPU ({exc})"
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass
