"""F114: the manual's command-line examples (03 §4) are in examples/seed and parse as written.

Examples exist for TF (standalone/PS/Horovod), PyTorch (standalone/Horovod), MXNet
(standalone/Horovod) and Paddle (standalone/PS); the manual has none for DDP, MindSpore and
DeepSpeed, so neither do we.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.bsubjob import request_from_script
from core.config import load_config
from core.images import ImageCatalog

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed"
# script -> (job name, mode, framework of the image, [(count, cpus, gpus)] from its machine file)
EXPECTED = {
    "tensorflow_standalone_cpu.sub": ("tensorflow_standalone_cpu", "standalone", "tensorflow", [(1, 1, 0)]),
    "tensorflow_ps_cpu.sub": ("tensorflow_ps_cpu", "ps", "tensorflow", [(1, 2, 0), (1, 2, 0)]),
    "tensorflow_horovod_cpu.sub": ("tensorflow_horovod_cpu", "horovod", "tensorflow", [(2, 2, 0)]),
    "pytorch_standalone_cpu.sub": ("pytorch_standalone_cpu", "standalone", "pytorch", [(1, 1, 0)]),
    "pytorch_horovod_cpu.sub": ("pytorch_horovod_cpu", "horovod", "pytorch", [(2, 2, 0)]),
    "mxnet_standalone_gpu.sub": ("mxnet_standalone_gpu", "standalone", "mxnet", [(1, 1, 1)]),
    "mxnet_horovod_gpu.sub": ("mxnent_horovod_gpu", "horovod", "mxnet", [(2, 1, 1)]),  # (sic), as printed
    "paddle_standalone_cpu.sub": ("paddle_standalone_cpu", "standalone", "paddle", [(1, 1, 0)]),
    "paddle_ps_gpu.sub": ("paddle_ps_gpu", "ps", "paddle", [(1, 2, 0), (1, 2, 1)]),
}


def test_exactly_the_manuals_examples() -> None:
    assert sorted(p.name for p in SEED.glob("*.sub")) == sorted(EXPECTED)


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_parses(script: str) -> None:
    name, mode, framework, groups = EXPECTED[script]
    text = (SEED / script).read_text()
    req = request_from_script(text, "alice", SEED, script, {"JHSCHEDULER_TOP": "/opt/jh", "HOME": "/home/alice"})
    cfg = load_config({})
    image = ImageCatalog(cfg.images_file, cfg.home, cfg.images_dir).resolve(req.image)
    assert (req.name, req.mode, image.frameworks[0]) == (name, mode, framework)
    assert [(g.count, g.request.cpus, g.request.gpus) for g in req.groups or []] == groups
    assert req.workdir == f"/home/alice/example/{framework}"
    assert req.extra_ports == (2 if mode in ("ps", "horovod") else 0)  # PS and Horovod add -port 2
