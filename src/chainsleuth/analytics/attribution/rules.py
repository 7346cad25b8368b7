"""When two tags on one address or entity cannot both be true.

- Two different exchanges: both tags have category `exchange` and name different services.
  A service is named by its actor id when both tags have one, else by the first word of the
  label, case-folded ("Binance 14" and "binance reserve wallets ETH" are one service).
- An exchange and an illicit actor: one tag is an exchange, the other has category
  `sanctioned` or `perpetrator`, or abuse `sanction`.

Anything else may coexist (an exchange's hot wallet and "Flexcoin hack", two labels of one
sanctioned entity). Incompatible tags inside one pack are an import error; across packs they
are listed by `tags conflicts`, with the cluster link that joined them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ILLICIT_CATEGORIES = frozenset({"sanctioned", "perpetrator"})
TWO_EXCHANGES = "two different exchanges"
EXCHANGE_AND_ILLICIT = "exchange and sanctioned/perpetrator"


def _get(tag: Any, name: str) -> Any:
    return tag.get(name) if isinstance(tag, Mapping) else getattr(tag, name)


def service(tag: Any) -> str | None:
    """The exchange a tag names, or None when it is not an exchange tag."""
    if _get(tag, "category") != "exchange":
        return None
    label = str(_get(tag, "label") or "").casefold().split()
    return f"label:{label[0]}" if label else None


def is_illicit(tag: Any) -> bool:
    """A sanctioned or perpetrator tag."""
    return _get(tag, "category") in ILLICIT_CATEGORIES or _get(tag, "abuse") == "sanction"


def incompatible(a: Any, b: Any) -> str | None:
    """Why tags `a` and `b` cannot hold for one owner, or None when they can."""
    sa, sb = service(a), service(b)
    if sa and sb:
        actor_a, actor_b = _get(a, "actor"), _get(b, "actor")
        same = actor_a == actor_b if actor_a and actor_b else sa == sb
        return None if same else TWO_EXCHANGES
    if (sa and is_illicit(b)) or (sb and is_illicit(a)):
        return EXCHANGE_AND_ILLICIT
    return None
