"""Server-side SVG charts: well-formed XML, labels escaped, bars coloured against the target."""

from __future__ import annotations

from lxml import etree

from opendcc.ssi.charts import bars

SVG = "{http://www.w3.org/2000/svg}"


def test_bars_are_well_formed_and_escaped() -> None:
    svg = etree.fromstring(
        bars("CPM1 <all>", [("family 4", 100.0), ("cohort <x>", 50.0), ("none", None)], 99.0)
    )
    rects = svg.findall(f"{SVG}rect")
    assert [r.get("fill") for r in rects] == ["#2e7d32", "#c62828"]
    assert float(rects[0].get("width")) == 2 * float(rects[1].get("width"))
    texts = "".join(svg.itertext())
    assert "cohort <x>" in texts and "no data" in texts and "target 99 %" in texts


def test_an_empty_chart_says_so() -> None:
    assert "no responses" in "".join(etree.fromstring(bars("CPM2", [])).itertext())
