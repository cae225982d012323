"""All 297 DCC RTDS request templates, re-addressed to each of the six cohorts' migrated
installations, through the running hub (see ``sweep``): no 5xx, every answer XSD-valid and
DCC-signed, and the share answered I0 reported and held above its floor."""

from __future__ import annotations

from pathlib import Path

from tests.s1sp.contract.estate import estate
from tests.s1sp.contract.sweep import report, sweep, tally

# The share of the 297 x 6 answers that are I0: 46.2 % before issue 21.
I0_FLOOR = 0.46


def test_every_rtds_template_on_every_cohort(tmp_path: Path) -> None:
    with estate(tmp_path / "estate") as running:
        answers = sweep(running)
    summary = report(answers)
    (tmp_path / "sweep.txt").write_text(summary)
    print(summary)
    assert len(answers) == 297 * 6
    assert not [a for a in answers if a.status >= 500], summary
    assert not [a for a in answers if a.invalid], summary
    assert tally(answers)["I0"] / len(answers) >= I0_FLOOR, summary
