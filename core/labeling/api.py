"""What labeling plugins provide: templates (the annotation UI of one scenario) and exporters
(one standard format each). Annotations are Label Studio result lists everywhere, the
format the front end writes, so a template and an exporter never need to know each other."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterable, Iterator

from core.api import Descriptor


@dataclass
class LabeledItem:
    """One file of a task as exporters and importers see it."""

    id: int
    path: str  # relative to the task's root
    full_path: str
    status: str
    result: list[dict[str, Any]]
    labeled_by: str | None = None
    labeled_at: str | None = None


@dataclass
class ExportTask:
    name: str
    category: str
    template: str
    labels: list[str]
    root: str
    #: (path) -> (width, height) of an image, read from the dataset's backend (header only)
    image_size: Callable[[str], tuple[int, int] | None] = field(default=lambda _p: None)


class LabelTemplate(Descriptor):
    """One annotation scenario: its Label Studio config and what its results hold."""

    kind: ClassVar[str] = "label_template"
    category: str = ""  # image | video | audio | text
    #: kinds of result it produces: choices, rectanglelabels, polygonlabels, keypointlabels, labels, textarea
    results: tuple[str, ...] = ()
    default_labels: tuple[str, ...] = ()
    #: key of the media in the task data ($image, $text, $audio, $video)
    data_key: str = "image"
    shortcuts: bool = True

    @abstractmethod
    def config(self, labels: list[str]) -> str:
        """The Label Studio XML config with these labels (already checked: 1-100 short names)."""


class LabelExporter(Descriptor):
    """One standard export format."""

    kind: ClassVar[str] = "label_exporter"
    #: result kinds it can write; a task whose template produces none of these is refused
    accepts: tuple[str, ...] = ()
    #: whether it can also read the format back as a pre-annotation file
    can_import: bool = False
    suffix: str = ""

    @abstractmethod
    def export(self, task: ExportTask, items: Iterable[LabeledItem], dest: Any) -> list[str]:
        """Write the format into the directory `dest`; return the files written (relative)."""

    def sniff(self, filename: str, text: str) -> bool:
        """Whether a pre-annotation file looks like this format (auto-detection)."""
        return False

    def read(self, task: ExportTask, text: str) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Parse a pre-annotation file: (file path or name, result list) for each file it labels;
        raise ValueError (or ValidationError) with the place that is wrong."""
        raise NotImplementedError
