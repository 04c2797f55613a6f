"""`from libaiflow.intergration.callback import TFKerasPruningCallback` as the product's
scripts write it: the very objects of libaiflow.integration.callback (loaded on first use, so
importing a Keras callback does not import PyTorch Lightning)."""

from typing import Any

from libaiflow.integration import callback as _callback
from libaiflow.integration.callback import __all__, current_trial, get_current_trial  # noqa: F401


def __getattr__(name: str) -> Any:
    return getattr(_callback, name)
