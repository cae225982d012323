"""A small estate for the firmware room: a supplier, another supplier, Acme E100 and E200 meters
in every situation 11.1 tells apart, the CPL, the library and a fake S1SP."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from lxml import etree
from sqlalchemy import Engine, select
from tests.reference import NOW

from opendcc.alerts.messages import AlertSigner
from opendcc.catalogue import DeviceType, UserRole, default_catalogue
from opendcc.core.clock import FixedClock
from opendcc.core.eui import Eui64
from opendcc.dsp.access import AccessControl, Endpoint, Granted
from opendcc.dsp.frontdoor import NonDeviceAnswer
from opendcc.duis.request import ServiceRequest, parse_request
from opendcc.firmware import (
    Distribution,
    Distributions,
    Firmware,
    FirmwareLibrary,
    FirmwareSettings,
    image_hash,
)
from opendcc.firmware.distributions import NewDistribution
from opendcc.inventory import (
    CplEntry,
    CplStatus,
    CplStore,
    Device,
    InventoryStore,
    Registration,
    SmiStatus,
)
from opendcc.s1sp.contract import (
    CohortProfile,
    FirmwareMode,
    Instruction,
    Outcome,
    OutcomeStatus,
    WanTraits,
)
from opendcc.sim.user import SimulatedUser
from opendcc.smki import SigningCredentials
from opendcc.store.tables import outbox
from opendcc.store.users import User, UserStatus, UserStore

SUPPLIER = Eui64.parse("90-B3-D5-1F-30-01-00-00")  # the ZAZ1 supplier: signs the requests
OTHER = Eui64.parse("90-B3-D5-1F-30-01-00-09")
DCC = Eui64.parse("90-B3-D5-1F-30-00-00-02")
MPAN, OTHER_MPAN = "1900000000017", "1900000000025"
SINCE = NOW - timedelta(days=30)

IMAGE = b"acme E100 firmware 2.0 \x00\x01\x02" * 40
IMAGE_V3 = b"acme E100 firmware 3.0" * 40


def eui(n: int) -> Eui64:
    return Eui64(0x00DB120000000000 + n)


APPLICABLE = eui(1)  # commissioned E100, the supplier's
APPLICABLE_TOO = eui(2)
NOT_THEIRS = eui(3)  # another supplier's meter
NOT_COMMISSIONED = eui(4)  # installed, not commissioned
WRONG_MODEL = eui(5)  # an E200: the image is for the E100
BUSY = eui(6)  # an earlier 11.1 is still pending for it
UNKNOWN = eui(99)  # not in the inventory
GAS_CHF = eui(7)  # the supplier's CHF on another cohort (two-stage)


def _device(
    device_id: Eui64,
    *,
    model: str = "E100",
    status: SmiStatus = SmiStatus.COMMISSIONED,
    mpxn: str = MPAN,
    cohort: str = "acme",
) -> Device:
    return Device(device_id, DeviceType.ESME, status, "Acme", model, cohort, mpxn, "1.0")


def estate() -> list[Device]:
    return [
        _device(APPLICABLE),
        _device(APPLICABLE_TOO, cohort="beta"),
        _device(NOT_THEIRS, mpxn=OTHER_MPAN),
        _device(NOT_COMMISSIONED, status=SmiStatus.INSTALLED_NOT_COMMISSIONED),
        _device(WRONG_MODEL, model="E200"),
        _device(BUSY),
    ]


def cpl_entries() -> list[CplEntry]:
    added = datetime(2024, 1, 1, tzinfo=UTC)
    return [
        CplEntry(DeviceType.ESME, "Acme", model, version, added, CplStatus.ACTIVE)
        for model in ("E100", "E200")
        for version in ("1.0", "2.0", "3.0")
    ]


def profile(name: str, mode: FirmwareMode) -> CohortProfile:
    return CohortProfile(
        name=name,
        manufacturer="Acme",
        protocol="apdu",
        supported_srvs=frozenset({"11.1", "11.3"}),
        device_models=("E100", "E200"),
        wan=WanTraits(10, 20),
        firmware_mode=mode,
    )


@dataclass
class FakeS1sp:
    """Answers each instruction with the next scripted outcome for its device (default:
    success with no stage), and remembers what it was sent."""

    script: dict[Eui64, list[Outcome | Exception]] = field(default_factory=dict)
    sent: list[tuple[str, Instruction]] = field(default_factory=list)

    async def __call__(self, cohort: str, instruction: Instruction) -> Outcome:
        self.sent.append((cohort, instruction))
        queue = self.script.get(instruction.device_id, [])
        answer = queue.pop(0) if queue else Outcome(instruction.request_id, OutcomeStatus.SUCCESS)
        if isinstance(answer, Exception):
            raise answer
        return Outcome(instruction.request_id, answer.status, answer.data, answer.detail)


@dataclass
class Rig:
    engine: Engine
    clock: FixedClock
    inventory: InventoryStore
    cpl: CplStore
    library: FirmwareLibrary
    access: AccessControl
    s1sp: FakeS1sp
    firmware: Firmware
    user: SimulatedUser
    outbox_woken: list[bool] = field(default_factory=list)

    def request(
        self, device_ids: Iterable[Eui64], *, image: bytes = IMAGE, version: str = "2.0"
    ) -> ServiceRequest:
        body = (
            "<sr:UpdateFirmware>"
            f"<sr:FirmwareImage>{base64.b64encode(image).decode()}</sr:FirmwareImage>"
            f"<sr:FirmwareVersion>{version}</sr:FirmwareVersion>"
            f"<sr:DeviceIDList>{','.join(str(d) for d in device_ids)}</sr:DeviceIDList>"
            "</sr:UpdateFirmware>"
        )
        return parse_request(self.user.request("11.1", DCC, cv=8, body=body))

    def granted(self, request: ServiceRequest) -> Granted:
        return self.access.check(request, Endpoint.NON_DEVICE, self.clock.now())

    def answer(self, request: ServiceRequest) -> tuple[NonDeviceAnswer, etree._Element | None]:
        """Run the 11.1 handler as the front door does: its write in one transaction."""
        answer = self.firmware.update_firmware(request, self.granted(request), self.clock.now())
        with self.engine.begin() as conn:
            payload = answer.write(conn)
        answer.then()
        return answer, payload

    def rows(self, request: ServiceRequest) -> dict[Eui64, Distribution]:
        return {r.device_id: r for r in self.firmware.store.of_request(request.request_id)}

    def occupy(self, device_id: Eui64) -> ServiceRequest:
        """An earlier 11.1 for the device, still pending."""
        earlier = self.request([device_id])
        with self.engine.begin() as conn:
            Distributions.insert_in(
                conn,
                earlier.request_id,
                SUPPLIER,
                version="2.0",
                image_hash=image_hash(IMAGE),
                devices=[NewDistribution(device_id, "acme", "E100")],
                now=self.clock.now(),
            )
        return earlier

    def outbox_bodies(self) -> list[bytes]:
        with self.engine.connect() as conn:
            return [
                bytes(b)
                for b in conn.execute(select(outbox.c.body).order_by(outbox.c.id)).scalars()
            ]


def build(
    engine: Engine,
    dcc: SigningCredentials,
    s1sp: SigningCredentials,
    supplier: SigningCredentials,
    settings: FirmwareSettings | None = None,
) -> Rig:
    clock = FixedClock(NOW)
    users = UserStore(engine)
    for user_id in (SUPPLIER, OTHER):
        roles = frozenset({UserRole.IS, UserRole.GS})
        users.put(User(user_id, roles, UserStatus.ACTIVE, f"http://127.0.0.1:9/{user_id}"), NOW)
    inventory = InventoryStore(engine)
    inventory.put_devices(estate(), SINCE)
    inventory.register(
        [
            Registration(MPAN, UserRole.IS, SUPPLIER, SINCE),
            Registration(OTHER_MPAN, UserRole.IS, OTHER, SINCE),
        ]
    )
    cpl = CplStore(engine)
    cpl.put(cpl_entries())
    library = FirmwareLibrary(engine, cpl)
    library.add(manufacturer="Acme", model="E100", version="2.0", image=IMAGE, now=SINCE)
    access = AccessControl(default_catalogue(), users, inventory)
    fake = FakeS1sp()
    woken: list[bool] = []

    def check_device(user_id: Eui64, device_id: Eui64, now: datetime) -> Device:
        device = access.check_device(user_id, "11.1", device_id, now).device
        assert device is not None
        return device

    def callback_of(user_id: Eui64) -> str | None:
        found = users.get(user_id)
        return None if found is None else found.callback_url

    firmware = Firmware(
        engine=engine,
        clock=clock,
        inventory=inventory,
        cpl=cpl,
        library=library,
        check_device=check_device,
        submit=fake,
        dsp=dcc,
        signer=AlertSigner(dcc, s1sp),
        callback_of=callback_of,
        settings=settings or FirmwareSettings(),
        profiles={
            "acme": profile("acme", FirmwareMode.ONE_STAGE),
            "beta": profile("beta", FirmwareMode.TWO_STAGE),
        },
        on_outbox=lambda: woken.append(True),
    )
    return Rig(
        engine,
        clock,
        inventory,
        cpl,
        library,
        access,
        fake,
        firmware,
        SimulatedUser(supplier),
        woken,
    )
