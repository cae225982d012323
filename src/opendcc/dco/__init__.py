"""The DCO (Dual Control Organisation): an independent check of every SMETS1 instruction.

Before an S1SP (SMETS1 Service Provider) may act, the DSP (Data Service Provider) countersigns
the instruction it derived from a User's signed Service Request, and the DCO checks, on its
own, that the instruction is what the User asked for and that the User may still ask for it.
"""

from opendcc.dco.check import Countersigned, DcoRejected, DualControl, countersign

__all__ = ["Countersigned", "DcoRejected", "DualControl", "countersign"]
