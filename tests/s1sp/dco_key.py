"""A DCO for tests that drive adapters directly: it seals instructions; adapters trust its key."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from opendcc.s1sp.contract import AdapterOptions, Instruction, Sealed


class TestDco:
    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.public_key = self._key.public_key()

    def seal(self, instruction: Instruction) -> Sealed:
        return Sealed(
            instruction, self._key.sign(instruction.canonical(), ec.ECDSA(hashes.SHA256()))
        )


DCO = TestDco()
OPTIONS = AdapterOptions(dco_key=DCO.public_key)
