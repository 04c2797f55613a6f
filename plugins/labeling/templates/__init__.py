"""The template galleries (F184): one row per scenario, mapped onto Label Studio's config tags.

A row is (name, category, title, result kinds, default labels, config body). `{labels}` in the
body becomes one <Label>/<Choice> per label of the task, with keys 1-9 as shortcuts; control
names follow core.labeling.results (box, polygon, point, label, transcription).
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from core.hookspecs import hookimpl
from core.labeling.api import LabelTemplate

_IMG = '<Image name="image" value="$image" zoom="true" zoomControl="true" rotateControl="false"/>'
_TEXT = '<Text name="text" value="$text"/>'
_AUDIO = '<AudioPlus name="audio" value="$audio"/>'
_VIDEO = '<Video name="video" value="$video"/>'

TABLE: list[tuple[str, str, str, tuple[str, ...], tuple[str, ...], str]] = [
    ("image-classification", "image", "Image classification", ("choices",), ("cat", "dog"),
     f'{_IMG}<Choices name="label" toName="image" choice="single" showInLine="true">{{choices}}</Choices>'),
    ("image-detection", "image", "Object detection (rectangles)", ("rectanglelabels",), ("car", "person"),
     f'<RectangleLabels name="box" toName="image">{{labels}}</RectangleLabels>{_IMG}'),
    ("image-segmentation", "image", "Polygon segmentation", ("polygonlabels",), ("road", "building"),
     f'<PolygonLabels name="polygon" toName="image" strokeWidth="2" pointSize="small">{{labels}}</PolygonLabels>'
     f'{_IMG}'),
    ("image-boxes-polygons", "image", "Rectangles and polygons", ("rectanglelabels", "polygonlabels"),
     ("car", "person"),
     '<Header value="Rectangles"/>'
     f'<RectangleLabels name="box" toName="image">{{labels}}</RectangleLabels>'
     '<Header value="Polygons"/>'
     f'<PolygonLabels name="polygon" toName="image" strokeWidth="2" pointSize="small">{{labels_nokeys}}</PolygonLabels>'
     f'{_IMG}'),
    ("image-keypoints", "image", "Key points", ("keypointlabels",), ("eye", "nose"),
     f'<KeyPointLabels name="point" toName="image" strokeWidth="2">{{labels}}</KeyPointLabels>{_IMG}'),
    ("text-classification", "text", "Text classification", ("choices",), ("positive", "negative"),
     f'{_TEXT}<Choices name="label" toName="text" choice="single" showInLine="true">{{choices}}</Choices>'),
    ("text-ner", "text", "Named entities", ("labels",), ("PER", "ORG", "LOC"),
     f'<Labels name="label" toName="text">{{labels}}</Labels>{_TEXT}'),
    ("audio-classification", "audio", "Audio classification", ("choices",), ("speech", "music", "noise"),
     f'{_AUDIO}<Choices name="label" toName="audio" choice="single" showInLine="true">{{choices}}</Choices>'),
    ("audio-segments", "audio", "Segments with transcription", ("labels", "textarea"), ("speech", "noise"),
     f'<Labels name="label" toName="audio">{{labels}}</Labels>{_AUDIO}'
     '<TextArea name="transcription" toName="audio" perRegion="true" editable="true" rows="2" '
     'placeholder="Transcription of the selected segment"/>'),
    ("video-classification", "video", "Video classification", ("choices",), ("action", "no action"),
     f'{_VIDEO}<Choices name="label" toName="video" choice="single" showInLine="true">{{choices}}</Choices>'),
    ("video-segments", "video", "Time segments (on the video's sound track)", ("labels",), ("scene", "speech"),
     f'{_VIDEO}<Labels name="label" toName="audio">{{labels}}</Labels>'
     '<AudioPlus name="audio" value="$video"/>'),
]


def _items(tag: str, labels: list[str], keys: bool) -> str:
    out = []
    for n, label in enumerate(labels):
        hotkey = f' hotkey="{n + 1}"' if keys and n < 9 else ""
        out.append(f"<{tag} value={quoteattr(label)}{hotkey}/>")
    return "".join(out)


class TableTemplate(LabelTemplate):
    def __init__(self, name: str, category: str, title: str, results: tuple[str, ...],
                 default_labels: tuple[str, ...], body: str):
        self.name, self.category, self.title = name, category, title
        self.results, self.default_labels, self.body = results, default_labels, body
        self.data_key = "video" if category == "video" else category
        self.description = f"{title} ({category}); results: {', '.join(results)}"

    def config(self, labels: list[str]) -> str:
        body = (self.body.replace("{labels_nokeys}", _items("Label", labels, False))
                .replace("{labels}", _items("Label", labels, True))
                .replace("{choices}", _items("Choice", labels, True)))
        return f"<View>{body}</View>"


@hookimpl
def hpcai_labeling_templates() -> list[LabelTemplate]:
    return [TableTemplate(*row) for row in TABLE]
