"""The server-side SVG line charts of the run comparison page (portal/charts.py)."""

import math
import re
import xml.etree.ElementTree as ET

from portal.charts import color, line_chart, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


def test_nice_ticks_cover_the_range_with_round_steps() -> None:
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0, 4) == [0, 1, 2, 3, 4]
    ticks = nice_ticks(0.137, 0.912)
    assert ticks[0] <= 0.137 and ticks[-1] >= 0.912 and len(ticks) <= 8
    assert nice_ticks(-3, 250)[0] <= -3 and nice_ticks(-3, 250)[-1] >= 250


def test_one_polyline_per_series_inside_the_plot() -> None:
    svg = str(line_chart([("a", [(0, 1.0), (1, 0.5), (2, 0.25)]), ("b", [(0, 0.9), (2, 0.1)])], "loss"))
    root = ET.fromstring(svg)  # well-formed XML
    lines = root.findall(f".//{SVG}polyline")
    assert [ln.get("stroke") for ln in lines] == [color(0), color(1)]
    xs = [float(p.split(",")[0]) for ln in lines for p in ln.get("points").split()]
    ys = [float(p.split(",")[1]) for ln in lines for p in ln.get("points").split()]
    assert min(xs) >= 64 and max(xs) <= 560 - 16 and min(ys) >= 30 and max(ys) <= 300 - 40
    first = [tuple(map(float, p.split(","))) for p in lines[0].get("points").split()]
    assert first[0][1] < first[1][1] < first[2][1]  # falling values go down the picture
    assert root.get("data-metric") == "loss"


def test_labels_are_escaped_and_bad_values_skipped() -> None:
    svg = str(line_chart([("<b>run</b>", [(0, math.nan), (1, 2.0), (2, math.inf)])], "a&b"))
    root = ET.fromstring(svg)
    assert "<b>" not in svg and "&lt;b&gt;run" in svg and "a&amp;b" in svg
    assert not root.findall(f".//{SVG}polyline") and len(root.findall(f".//{SVG}circle")) == 1  # one point left
    assert re.search(r"no values", str(line_chart([("x", [])], "empty")))
