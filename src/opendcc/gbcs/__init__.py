"""GBCS (Great Britain Companion Specification) commands for critical SMETS1 requests.

The pure room that makes a critical SRV's pre-command the SMETS2 way: the General Signing
message (``message``), the DLMS, GBZ and ASN.1 pieces use cases are made of (``encoding``), and
each critical SRV's GBCS use case with its command body (``usecases``). No I/O.
"""
