"""The registry's vocabulary: purposes and their tags, the deploy recommendation table, and the
descriptor a converter plugin provides (hook `hpcai_model_converters`)."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from core.api import Descriptor

#: F201: the nine purposes (key -> the tag auto-filled for it, F202)
PURPOSES: dict[str, str] = {
    "text-generation": "Text generation", "text-to-image": "Text-to-image", "embedding": "Embedding",
    "re-ranking": "Re-ranking", "multimodal": "Multimodal", "machine-learning": "Machine learning",
    "reinforcement-learning": "Reinforcement learning", "deep-learning": "Deep learning", "other": "Other",
}
#: F73/F74: archiving a job's model offers only these purposes
ARCHIVE_PURPOSES = ("machine-learning", "deep-learning")

#: F215: service types recommended per purpose, in order; "*" = every serving type.
#: Doc gap: LLM-style purposes have no rule in the product; they get "*" like RL.
PURPOSE_SERVICES: dict[str, tuple[str, ...]] = {
    "machine-learning": ("triton", "mlserver"),
    "deep-learning": ("tfserving", "torchserve", "triton"),
    "reinforcement-learning": ("*",),
}
#: F216 and friends: a file suffix in the version directory puts this type first.
FILE_SERVICES: tuple[tuple[str, str], ...] = (
    (".h5", "tfserving"), ("saved_model.pb", "tfserving"),
    (".mar", "torchserve"), (".pt", "torchserve"), (".pth", "torchserve"),
    ("config.pbtxt", "triton"), (".onnx", "triton"),
    (".joblib", "mlserver"), (".pkl", "mlserver"),
)
#: Where Triton cannot run (no tritonserver), MLServer serves the same ONNX / scikit-learn files.
FALLBACKS: dict[str, str] = {"triton": "mlserver"}

#: relative tolerance and absolute tolerance of the onnxruntime check (stated in the job log)
RTOL, ATOL = 1e-3, 1e-4


@dataclass
class ConversionPlan:
    """What a converter asks the conversion job to run (in `image`)."""

    script: Path  # a self-contained Python file run with the image's python
    args: list[str] = field(default_factory=list)
    image: str = "modelstore"


class Converter(Descriptor):
    """One source framework -> ONNX. `option_schema` holds its parameters (input shape, opset ...).

    `plan(options, source_dir)` validates the options against the source version's files
    (raise core.errors.ValidationError naming the field) and returns the job's script and
    arguments. The script runs in `image`; it receives `--source DIR --out DIR --name NAME
    --rtol R --atol A` after `args`, writes `<out>/<name>/1/model.onnx` and
    `<out>/<name>/config.pbtxt` through the core's job-side helper `onnx_check.py` (next to the
    script in the job) and fails when onnxruntime disagrees with the source model.
    """

    kind: ClassVar[str] = "converter"
    framework: str = ""  # the source framework's name (pytorch, tensorflow, sklearn, paddle)
    image: str = "modelstore"

    @abstractmethod
    def plan(self, options: dict[str, Any], source_dir: Path) -> ConversionPlan:
        ...


def model_files(directory: str | Path, limit: int = 2000) -> list[Path]:
    """The files under a version directory (bounded: a huge tree is not walked whole)."""
    out: list[Path] = []
    root = Path(directory)
    if not root.is_dir():
        return out
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out.append(p)
            if len(out) >= limit:
                break
    return out


def recommend(purpose: str, files: list[Path], serving_types: list[str],
              runnable: dict[str, bool]) -> list[str]:
    """Serving types in the order the deploy form offers them (the first is the default).

    `serving_types`: the installed serving types; `runnable`: whether each can run here.
    """
    wanted: list[str] = []
    for suffix, st in FILE_SERVICES:  # the files speak first (F216)
        if any(f.name.endswith(suffix) for f in files) and st not in wanted:
            wanted.append(st)
    rule = PURPOSE_SERVICES.get(purpose, ("*",))
    wanted += [t for t in (serving_types if "*" in rule else rule) if t not in wanted]
    out: list[str] = []
    for t in wanted:
        if t in serving_types and not runnable.get(t, True) and FALLBACKS.get(t) in serving_types:
            t = FALLBACKS[t]
        if t in serving_types and t not in out:
            out.append(t)
    return out


#: how serialised model files begin (checked before a conversion job is submitted)
PICKLE_MAGIC = (b"\x80",)  # pickle protocol 2+ (joblib's plain files too)
JOBLIB_MAGIC = (b"\x80", b"x\x9c", b"x\x01", b"x\xda", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x04\"M\x18", b"ZF")
ZIP_MAGIC = (b"PK\x03\x04",)  # torch.save / TorchScript archives, skops files, .keras


def check_magic(path: Path, magics: tuple[bytes, ...], what: str, fld: str = "model_file") -> None:
    """Refuse a file that cannot be `what` by its first bytes, so no job is run for it."""
    from core.errors import ValidationError

    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise ValidationError(f"cannot read {path.name}: {exc.strerror}", field=fld) from None
    if not any(head.startswith(m) for m in magics):
        raise ValidationError(f"{path.name} is not {what} (it starts with {head[:8]!r})", field=fld,
                              fix="pick the saved model file, or the converter of the model's framework")
