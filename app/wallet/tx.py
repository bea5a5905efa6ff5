"""Amounts and transfers: parse "1.5 POT" to grains and back, build and sign a `Transfer`.

Amounts are exact decimals (never floats): up to 9 fractional digits, since 1 POT = 10^9 grains.
The nonce comes from the caller (who asks the node for the account's next nonce); the fee is the
caller's choice, with `estimate_fee` giving a size-proportional suggestion.
"""

from __future__ import annotations

import re

from app.core.address import decode_address
from app.core.crypto import SigningKey
from app.core.encoding import UINT64_MAX
from app.core.errors import InsufficientFunds
from app.core.types import GRAINS_PER_POT, NO_SIGNATURE, Transfer
from app.wallet.errors import InvalidAmount

DECIMALS = 9
UNIT = "POT"
MAX_MEMO_BYTES = 128
_AMOUNT = re.compile(r"([0-9]+)(?:\.([0-9]*))?|\.([0-9]+)")  # ASCII digits only


def parse_amount(text: str) -> int:
    """Grains in `text` ("1.5", "1.5 POT", "0.000000001 pot"); `InvalidAmount` says what is wrong."""
    if not isinstance(text, str):
        raise InvalidAmount("an amount is text such as '1.5 POT'")
    value = text.strip()
    if value[-len(UNIT) :].upper() == UNIT:
        value = value[: -len(UNIT)].strip()
    if not value:
        raise InvalidAmount("amount is empty")
    if value.startswith("-"):
        raise InvalidAmount("amount cannot be negative")
    match = _AMOUNT.fullmatch(value)
    if match is None:
        raise InvalidAmount(f"{text.strip()!r} is not a number of POT (use digits and one '.')")
    whole, fraction = match.group(1) or "0", match.group(2) or match.group(3) or ""
    if len(fraction) > DECIMALS:
        raise InvalidAmount(f"at most {DECIMALS} decimals: 1 grain is 0.000000001 {UNIT}")
    grains = int(whole) * GRAINS_PER_POT + int(fraction.ljust(DECIMALS, "0"))
    if grains > UINT64_MAX:
        raise InvalidAmount("amount is larger than any balance can be")
    return grains


def balance_summary(spendable: int, vesting: int) -> str:
    """ "12.5 POT spendable, 27.5 POT vesting": what can be sent now apart from rewards still in their window."""
    return f"{format_amount(spendable)} spendable, {format_amount(vesting)} vesting"


def format_amount(grains: int, unit: bool = True) -> str:
    """`1500000000` -> "1.5 POT": exact, trailing zeros dropped."""
    if type(grains) is not int or grains < 0:
        raise InvalidAmount("a grain amount is a non-negative integer")
    whole, fraction = divmod(grains, GRAINS_PER_POT)
    text = str(whole) + (f".{fraction:0{DECIMALS}d}".rstrip("0") if fraction else "")
    return f"{text} {UNIT}" if unit else text


def estimate_fee(fee_per_byte: int, memo: str = "", minimum: int = 0) -> int:
    """A suggested fee: the signed transfer's encoded size times `fee_per_byte`, at least `minimum`."""
    if fee_per_byte < 0 or minimum < 0:
        raise InvalidAmount("fee rates are non-negative")
    sample = Transfer(
        chain_id="x" * 64, sender=bytes(32), nonce=UINT64_MAX, recipient=bytes(20),
        amount=UINT64_MAX, fee=UINT64_MAX, memo=memo, signature=NO_SIGNATURE,
    )  # fmt: skip
    return max(minimum, len(sample.encode()) * fee_per_byte)


def build_transfer(
    key: SigningKey,
    chain_id: str,
    hrp: str,
    recipient: str,
    amount: int,
    fee: int,
    nonce: int,
    memo: str = "",
    balance: int | None = None,
) -> Transfer:
    """A signed transfer of `amount` grains to the address `recipient` (checked against `hrp`).

    With `balance` given, a transfer whose amount plus fee exceeds it is refused here, before it is
    signed and broadcast only to be rejected by the network.
    """
    account = decode_address(recipient, hrp)
    for name, value in (("amount", amount), ("fee", fee), ("nonce", nonce)):
        if type(value) is not int or not 0 <= value <= UINT64_MAX:
            raise InvalidAmount(f"{name} must be an integer number of grains in 0..2^64-1")
    if amount == 0:
        raise InvalidAmount("amount must be more than zero")
    if not isinstance(memo, str) or len(memo.encode()) > MAX_MEMO_BYTES:
        raise InvalidAmount(f"memo is text of at most {MAX_MEMO_BYTES} bytes in UTF-8")
    if balance is not None and amount + fee > balance:
        raise InsufficientFunds(
            f"{format_amount(amount)} plus a fee of {format_amount(fee)} exceeds the balance of "
            f"{format_amount(balance)}"
        )
    unsigned = Transfer(
        chain_id=chain_id, sender=key.public_key, nonce=nonce, recipient=account,
        amount=amount, fee=fee, memo=memo, signature=NO_SIGNATURE,
    )  # fmt: skip
    return unsigned.signed_by(key)
