"""All 297 DCC RTDS request templates, re-addressed to each of the six cohorts' migrated
installations, through the running hub (see ``sweep``): no 5xx, every answer XSD-valid and
DCC-signed, every answer as the published SMETS1 service catalogue says (the hub's own JSON of
it included), and the share answered I0 reported and held above its floor."""

from __future__ import annotations

from pathlib import Path

from tests.s1sp.contract.estate import PROFILES, estate
from tests.s1sp.contract.sweep import CATALOGUE, against_catalogue, report, sweep, tally

from opendcc.dsp.offering import smets1_catalogue

# The share of the 297 x 6 answers that are I0: 46.2 % before issue 21, 57.9 % after its first
# session; 75.3 % after the second (SMETS1 auxiliary load control switches and further registers,
# security credentials held by the S1SP, a meter's refusal answered E11 with its reason, each SRV
# sent by an eligible role, 12.2 and 8.4 for a replacement meter). The issue asks for 75 %.
I0_FLOOR = 0.75


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
