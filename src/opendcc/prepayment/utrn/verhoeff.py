"""The UTRN (Unique Transaction Reference Number) check digit: Verhoeff, as GBCS tables 14.8a–c.

A consumer keys a UTRN into a meter or PPMID (PrePayment Meter Interface Device) by hand; the
twentieth digit catches the keying mistakes people make (every single-digit error, every
adjacent transposition) before the meter spends any effort on the token.

GBCS (Great Britain Companion Specification) uses the standard Verhoeff multiplication table
(the dihedral group D5) and permutation table, but walks the digits left to right with the
permutation row starting at 4, and maps the result through its own inverse table. So it is not
the textbook Verhoeff digit: only these tables reproduce published UTRNs.
"""

from __future__ import annotations

from opendcc.prepayment.utrn import Rejection, TokenRejected

# Multiplication in D5 (GBCS table 14.8a).
_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
# Position-dependent permutations (GBCS table 14.8b).
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
# GBCS's inverse table (14.8c), not the textbook one.
_INV = "1267583094"
_FIRST_ROW = 4


def check_digit(digits: str) -> str:
    """The check digit GBCS appends to ``digits`` (ASCII decimal digits, at least one)."""
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"a check digit needs decimal digits, got {digits!r}")
    row, c = _FIRST_ROW, 0
    for ch in digits:
        c = _D[c][_P[row][ord(ch) - 48]]
        row = (row + 1) & 7
    return _INV[c]


def is_valid(utrn: str) -> bool:
    """Whether the last digit of ``utrn`` is the check digit of the others."""
    if len(utrn) < 2 or not (utrn.isascii() and utrn.isdigit()):
        return False
    return check_digit(utrn[:-1]) == utrn[-1]


def checked_number(utrn: str) -> int:
    """The number in the first 19 digits of a 20-digit UTRN whose check digit is right;
    ``TokenRejected`` (FORMAT or CHECK_DIGIT) otherwise."""
    if len(utrn) != 20 or not (utrn.isascii() and utrn.isdigit()):
        raise TokenRejected(Rejection.FORMAT, "a UTRN is 20 decimal digits")
    if check_digit(utrn[:19]) != utrn[19]:
        raise TokenRejected(Rejection.CHECK_DIGIT, "the check digit is wrong")
    return int(utrn[:19])
