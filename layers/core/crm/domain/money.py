"""Money: amounts with two decimals and an ISO 4217 currency code.

Every amount is stored with two decimals whatever the currency's minor unit (JPY has none,
BHD three): deals carry estimates, not ledger entries. Amounts of different currencies are
never added together; reports group by currency (no exchange rates here).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from crm.domain.tenant_settings import CURRENCIES

DEFAULT_CURRENCY = "USD"
CENTS = Decimal("0.01")


def is_currency(code: str) -> bool:
    return code in CURRENCIES


def cents(amount: Decimal) -> Decimal:
    """`amount` rounded to two decimals, half away from zero (what people expect of money)."""
    return amount.quantize(CENTS, rounding=ROUND_HALF_UP)


def format_amount(amount: Decimal) -> str:
    """Amounts travel as strings in JSON ("1234.50"): a float would lose cents."""
    return str(cents(amount))
