"""All 297 DCC RTDS request templates, re-addressed to each of the six cohorts' migrated
installations, through the running hub (see ``sweep``): no 5xx, every answer XSD-valid and
DCC-signed, every answer as the published SMETS1 service catalogue says (the hub's own JSON of
it included), and the share answered I0 reported and held above its floor."""

from __future__ import annotations

from pathlib import Path

from tests.s1sp.contract.estate import PROFILES, estate
from tests.s1sp.contract.sweep import CATALOGUE, against_catalogue, report, sweep, tally

from opendcc.dsp.offering import smets1_catalogue

# The share of the 297 x 6 answers that are I0: 46.2 % before issue 21, 57.9 % after it; 60.2 %
# once each SRV is sent by an eligible role, SynchroniseClock carries the meters' time and 5.2/5.3
# name the schedule 5.1 created (h21a).
I0_FLOOR = 0.60


def test_every_rtds_template_on_every_cohort(tmp_path: Path) -> None:
    with estate(tmp_path / "estate") as running:
        published = running.http.get(f"{running.hub.url}/catalogue/v1/smets1").json()
        one = running.http.get(f"{running.hub.url}/catalogue/v1/smets1?cohort=edmi").json()
        unknown = running.http.get(f"{running.hub.url}/catalogue/v1/smets1?cohort=acme")
        answers = sweep(running)
    summary = report(answers)
    (tmp_path / "sweep.txt").write_text(summary)
    print(summary)
    table = smets1_catalogue(CATALOGUE, PROFILES)
    assert published == {"cohorts": {n: [e.as_json() for e in es] for n, es in table.items()}}
    assert one == {"cohort": "edmi", "srvs": published["cohorts"]["edmi"]}
    assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown_cohort")
    assert len(answers) == 297 * 6
    assert not [a for a in answers if a.status >= 500], summary
    assert not [a for a in answers if a.invalid], summary
    assert not against_catalogue(answers), against_catalogue(answers)
    assert tally(answers)["I0"] / len(answers) >= I0_FLOOR, summary
