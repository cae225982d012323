"""Prepayment: UTRNs (Unique Transaction Reference Numbers), the ledger that pays them once,
and top-ups over the air.

``utrn`` holds the token algorithms (GBCS section 14 and the manufacturer-style SMETS1 ones),
pure code shared by the S1SP, which issues tokens, and the simulated meters, which accept them.
``keys`` provisions the key material each cohort's tokens are made with. The ledger, the PAN
(Payment Allocation Number) register, PSP (Payment Service Provider) nominations and the UTRN
service live beside them.
"""
