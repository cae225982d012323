"""GBCS (Great Britain Companion Specification) commands for critical SMETS1 requests.

The pure room that makes a critical SRV's pre-command the SMETS2 way: the General Signing
message and the User's signature over it (``message``), the DLMS, GBZ and ASN.1 pieces commands
are made of (``encoding``), what a use case's codec works with (``codec``), the ESME and GSME
use cases opendcc writes byte for byte as DCC's RTDS does (``esme``, ``gsme``), and each
critical SRV's use case with the choice between them (``usecases``). No I/O.
"""
