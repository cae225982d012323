"""The prepayment estate: the cohort estate's running hub and six head-ends, with prepayment
meters, service keys for the UTRN service, and a hub that can be killed and started again.

Every cohort's ESME and GSME are switched to prepayment mode on the head-end (as a supplier's
SRV 1.6 would) with an opening balance, so a top-up shows in their credit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from opendcc.core.eui import Eui64
from opendcc.prepayment.ledger import Entry, Ledger
from opendcc.prepayment.registers import Kind, Registers
from opendcc.sim import scenario
from opendcc.sim.processes import HubProcess
from opendcc.sim.state import MeterState, PaymentMode
from opendcc.store import create_engine_for
from opendcc.store.tables import registrations
from tests.s1sp.contract.estate import Estate, estate

SUPPLIER = scenario.SUPPLIER
OPENING_BALANCE_P = 1000


async def on_loop(action: Any) -> Any:
    return action()


@dataclass
class Prepay:
    estate: Estate
    keys: dict[str, str]  # bearer key by principal

    # ------------------------------------------------------------------ the estate

    @property
    def url(self) -> str:
        return self.estate.hub.url

    def meter(self, cohort: str, kind: str = "ESME") -> MeterState:
        core = self.estate.headends.core(cohort)
        found = core.meter(self.estate.installs[cohort].devices[kind])
        assert found is not None
        return found

    def balance_p(self, cohort: str, kind: str = "ESME") -> int:
        """The meter's credit in pence, read from the meter model on the head-end's loop."""
        meter = self.meter(cohort, kind)
        now = self.estate.headends.clock.now()
        values = self.estate.headends.call(on_loop(lambda: meter.prepay_values(now)))
        return int(values.balance_p)

    def device(self, cohort: str, kind: str = "ESME") -> Eui64:
        return self.estate.installs[cohort].devices[kind]

    def ledger(self) -> Ledger:
        return Ledger(create_engine_for(self.estate.database()))

    def restart_hub(self, *, kill: bool) -> None:
        old = self.estate.hub
        port = int(old.url.rsplit(":", 1)[1])
        old.kill() if kill else old.stop()
        directory = self.estate.hub_directory
        self.estate.hub = HubProcess(directory / "hub.toml", port, directory / "hub.log")

    def change_supplier(self, mpxn: str, role: str, user: Eui64, at: datetime) -> None:
        engine = create_engine_for(self.estate.database())
        with engine.begin() as conn:
            conn.execute(
                insert(registrations).values(
                    mpxn=mpxn, role=role, user_id=str(user), effective_from=at
                )
            )
        engine.dispose()

    # ------------------------------------------------------------------ the UTRN service

    def key_for(self, principal: str, kind: Kind = Kind.SUPPLIER) -> str:
        if principal not in self.keys:
            engine = create_engine_for(self.estate.database())
            self.keys[principal] = Registers(engine).make_key(
                principal, kind, self.estate.headends.clock.now()
            )
            engine.dispose()
        return self.keys[principal]

    def call(
        self,
        method: str,
        path: str,
        *,
        principal: str = str(SUPPLIER),
        kind: Kind = Kind.SUPPLIER,
        body: dict[str, Any] | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key_for(principal, kind)}"}
        return self.estate.http.request(
            method, f"{self.url}/utrn/v1{path}", json=body, headers=headers, timeout=60
        )

    def issue(self, device: Eui64, amount_p: int, **more: Any) -> httpx.Response:
        return self.call(
            "POST", "/utrns", body={"device": str(device), "amount_p": amount_p, **more}
        )

    def top_up_duis(self, device: Eui64, utrn: str) -> str:
        """Send DUIS SRV 2.2 carrying ``utrn``; the response code delivered."""
        request = self.estate.supplier.request(
            "2.2", device, cv=1, body=f"<sr:TopUpDevice><sr:UTRN>{utrn}</sr:UTRN></sr:TopUpDevice>"
        )
        answer = self.estate.post("serviceS", request)
        assert answer.status_code == 200, answer.headers.get("X-OpenDCC-Reason")
        code = answer.headers["X-DUIS-Response-Code"]
        if code != "I99":
            return code
        root = self.estate.response_to(request)
        return root.findtext(".//{*}ResponseCode") or ""

    def entry(self, entry_id: int) -> Entry:
        found = self.ledger().get(entry_id)
        assert found is not None
        return found


@contextmanager
def prepayment_estate(directory: Path, response_time_scale: float = 1.0) -> Iterator[Prepay]:
    with estate(directory, response_time_scale) as running:
        now = running.headends.clock.now()
        for install in running.installs.values():
            for kind in ("ESME", "GSME"):
                core = running.headends.core(install.profile.name)
                meter = core.meter(install.devices[kind])
                assert meter is not None

                def switch(meter: MeterState = meter) -> None:
                    meter.update_payment_mode(now, PaymentMode.PREPAYMENT)
                    meter.adjust_balance(now, OPENING_BALANCE_P)

                running.headends.call(on_loop(switch))
        rig = Prepay(running, {})
        try:
            yield rig
        finally:
            if rig.estate.hub is not running.hub:
                rig.estate.hub.stop()
