"""A simulated DCC User: signs DUIS requests like DCC Boxed tooling, signs the pre-commands of
critical requests (GBCS General Signing messages) as a User's system does for SMETS2, and runs
its own callback endpoint, where the hub POSTs responses and alerts.

Used by the demo, the end-to-end tests and the front-door benchmark. The originator counter
starts from the current time in milliseconds (as DCC Boxed's signing tool does) and only grows.
"""

from __future__ import annotations

import base64
import itertools
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree

from opendcc.core.eui import Eui64
from opendcc.duis.xml import parse_xml
from opendcc.duis.xmldsig import sign
from opendcc.gbcs import message as gbcs
from opendcc.smki.credentials import SigningCredentials

REQUEST = """<?xml version="1.0" encoding="UTF-8"?>
<sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" schemaVersion="5.4">
<sr:Header><sr:RequestID>{request_id}</sr:RequestID><sr:CommandVariant>{cv}</sr:CommandVariant>
<sr:ServiceReference>{sr}</sr:ServiceReference>
<sr:ServiceReferenceVariant>{srv}</sr:ServiceReferenceVariant></sr:Header>
<sr:Body>{body}</sr:Body></sr:Request>"""

BODIES = {
    "4.1.1": "<sr:ReadInstantaneousImportRegisters/>",
    "8.2": "<sr:ReadInventory><sr:DeviceID>{target}</sr:DeviceID></sr:ReadInventory>",
}
DCC = Eui64.parse("90-B3-D5-1F-30-00-00-02")  # the target of non-device requests


class SimulatedUser:
    def __init__(
        self,
        credentials: SigningCredentials,
        user_id: Eui64 | None = None,
        gbcs_key: ec.EllipticCurvePrivateKey | None = None,
    ) -> None:
        if user_id is None and credentials.info.eui is None:
            raise ValueError("the certificate names no User ID; pass one")
        self.credentials = credentials
        # The key that signs GBCS commands: the private half of the User's SMKI Organisation
        # digital-signing certificate; without one, its XML-signing key.
        self.gbcs_key = gbcs_key or credentials.key
        self.user_id = user_id or credentials.info.eui
        self._counter = itertools.count(time.time_ns() // 1_000_000)
        self._lock = threading.Lock()

    def next_counter(self) -> int:
        with self._lock:
            return next(self._counter)

    def request(
        self,
        srv: str,
        target: Eui64,
        *,
        cv: int = 1,
        body: str | None = None,
        counter: int | None = None,
        first_in_sequence: bool | None = None,
        preceding: str | None = None,
    ) -> bytes:
        """A signed Service Request for ``srv`` (its body from ``BODIES`` unless given);
        ``first_in_sequence`` and ``preceding`` (a RequestID) put it in a DUIS sequence."""
        counter = self.next_counter() if counter is None else counter
        request_id = f"{self.user_id}:{target if cv != 8 else DCC}:{counter}"
        text = REQUEST.format(
            request_id=request_id,
            cv=cv,
            sr=srv.rsplit(".", 1)[0] if srv.count(".") == 2 else srv,
            srv=srv,
            body=(body if body is not None else BODIES[srv]).format(target=target),
        )
        sequence = _sequence(first_in_sequence, preceding)
        text = text.replace("</sr:RequestID>", f"</sr:RequestID>{sequence}", 1)
        document = parse_xml(text.encode("utf-8"))
        sign(document.getroot(), self.credentials)
        return etree.tostring(document, xml_declaration=True, encoding="UTF-8")

    def sign_precommand(self, payload: bytes) -> bytes:
        """What a User's system does with a pre-command (a GBCS General Signing message, 0xDF
        ...): sign the bytes after the 0xDF with its GBCS key, append 0x40 and r || s."""
        message = gbcs.decode(payload)  # refuses anything but a General Signing message
        if message.originator != self.user_id:
            raise ValueError(f"the pre-command is {message.originator}'s, not this User's")
        return gbcs.sign(payload, self.gbcs_key)

    def signed_precommand(self, srv: str, target: Eui64, payload: bytes) -> bytes:
        """CV 5: the pre-command a transform (CV 4) returned, signed by this User."""
        signed = self.sign_precommand(payload)
        body = (
            "<sr:SignedPreCommand><sr:GBCSPayload>"
            f"{base64.b64encode(signed).decode('ascii')}"
            "</sr:GBCSPayload></sr:SignedPreCommand>"
        )
        return self.request(srv, target, cv=5, body=body)


def _sequence(first: bool | None, preceding: str | None) -> str:
    parts = []
    if first is not None:
        parts.append(f"<sr:FirstInSequence>{'true' if first else 'false'}</sr:FirstInSequence>")
    if preceding is not None:
        parts.append(f"<sr:PrecedingServiceRequestID>{preceding}</sr:PrecedingServiceRequestID>")
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class Delivery:
    key: str
    body: bytes
    at: float  # time.monotonic() on arrival


class _Listener(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the hub delivers in bursts; the stdlib default (5) refuses them


class CallbackServer:
    """The User's endpoint: records every POST; can be taken down (503) and brought back."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.deliveries: list[Delivery] = []
        self.up = True
        self._arrived = threading.Condition()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the stdlib's name
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-POST: nothing was delivered
                    self.send_response(400)
                    self.end_headers()
                    return
                if not server.up:
                    self.send_response(503)
                    self.end_headers()
                    return
                key = self.headers.get("X-DCC-Message-ID", "")
                with server._arrived:
                    server.deliveries.append(Delivery(key, body, time.monotonic()))
                    server._arrived.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._http = _Listener((host, port), Handler)
        self.url = f"http://{host}:{self._http.server_address[1]}/duis"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def __enter__(self) -> CallbackServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._http.shutdown()
        self._http.server_close()

    def keys(self) -> set[str]:
        with self._arrived:
            return {d.key for d in self.deliveries}

    def wait_for(self, keys: set[str], timeout: float) -> bool:
        """Wait until every message key in ``keys`` has arrived."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while not keys <= {d.key for d in self.deliveries}:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._arrived.wait(left)
        return True

    def body_of(self, key: str) -> bytes:
        with self._arrived:
            return next(d.body for d in self.deliveries if d.key == key)
