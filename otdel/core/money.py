"""Money: Decimal with a currency, never float; rounding to the kopeck is half-up."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

KOPECK = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in a currency; arithmetic only between the same currency."""

    amount: Decimal
    currency: str = "RUB"

    def __post_init__(self) -> None:
        if isinstance(self.amount, float):
            raise TypeError("money is never a float")
        object.__setattr__(self, "amount", Decimal(self.amount))

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def rounded(self) -> Money:
        """Round half-up to the kopeck (the stated rule)."""
        return Money(self.amount.quantize(KOPECK, rounding=ROUND_HALF_UP), self.currency)

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise ValueError(f"cannot mix {self.currency} and {other.currency}")

    def __str__(self) -> str:
        sign = {"RUB": "₽"}.get(self.currency, self.currency)
        whole = f"{self.rounded().amount:,.2f}".replace(",", " ").replace(".", ",")
        return f"{whole} {sign}"
