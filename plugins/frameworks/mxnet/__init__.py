"""MXNet: standalone and Horovod (horovodrun sets HOROVOD_* in each rank)."""

from __future__ import annotations

from core.api import Framework
from core.hookspecs import hookimpl


class MXNet(Framework):
    name = "mxnet"
    title = "MXNet"
    modes = ("standalone", "horovod")
    image_tag = "MXNet"
    default_job_name = "mxnet"
    order = 3


@hookimpl
def hpcai_frameworks() -> list[Framework]:
    return [MXNet()]
