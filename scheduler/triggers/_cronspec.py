"""Cron text to field sets, and the field-by-field search for the next matching wall time.

Syntax (cronie's, plus the Quartz day extensions most users know):

- 5 fields ``minute hour day-of-month month day-of-week`` or 6 with a LEADING seconds field;
- ``*``, values, names (``JAN``..``DEC``, ``SUN``..``SAT``, any case), ranges ``a-b``, steps
  ``*/15``, ``10-50/5`` and ``5/15`` (= ``5-max/15``), lists ``a,b,c``; a step larger than the
  field (``*/100``) keeps the range's first value, as cronie does (a lone one is logged once
  as a likely mistake; in a list it is cronsim's "first Monday" idiom ``*/100,1-7``);
- day of week 0 and 7 are both Sunday; ``?`` means ``*`` in the two day fields;
- ``@yearly @annually @monthly @weekly @daily @midnight @hourly``;
- day of month: ``L`` (last day), ``L-3`` (three days before the last), ``15W`` (weekday
  nearest the 15th, within the month), ``LW`` (last weekday of the month);
- day of week: ``5L`` (last Friday of the month), ``1#2`` (second Monday).

Day rule (Vixie cron, as cronie implements it): when both day fields are restricted a day
matches if EITHER matches; when one of them starts with ``*`` (``*``, ``*/2``, or ``?``) both
must match. ``L``, ``W`` and ``#`` are ordinary members of their field for that rule.

Everything is precomputed into sorted tuples; the day set of each ``(year, month)`` is cached,
so :meth:`CronSpec.next_match` jumps field by field (year, month, day, hour, minute, second)
with a handful of ``bisect`` calls instead of walking minutes.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any, NoReturn

from .._log import safe_log
from ..exceptions import InvalidCronExpression

__all__ = ["MACROS", "CronSpec", "parse"]

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_MONTHS = {
    name: i + 1
    for i, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    )
}
_DAYS = {name: i for i, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}

#: (name, low, high, names)
_FIELDS = {
    "second": (0, 59, None),
    "minute": (0, 59, None),
    "hour": (0, 23, None),
    "day of month": (1, 31, None),
    "month": (1, 12, _MONTHS),
    "day of week": (0, 7, _DAYS),
}
_ORDER6 = ("second", "minute", "hour", "day of month", "month", "day of week")

_PLAIN = re.compile(r"^[0-9A-Za-z*?/,\-#]+$")
_ATOM = re.compile(r"^(?:\d+|[A-Za-z]+)$")

#: years searched past the start before :meth:`CronSpec.next_match` gives up. The weekday
#: pattern of the Gregorian calendar repeats every 28 years between 1901 and 2099, so a rule
#: that fires at all fires within that window.
SEARCH_YEARS = 30
_CACHE_MAX = 2048
_log = logging.getLogger("scheduler.triggers")


@dataclass(eq=False, slots=True)
class CronSpec:
    """A parsed expression: one sorted tuple per time field, plus the day rules.

    :ivar expression: the text as given (macros unexpanded)
    :ivar wildcard: the minute or hour field starts with ``*`` (cronie's DST class)
    """

    expression: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    dom: frozenset[int]
    dow: frozenset[int]  # 0 = Sunday .. 6 = Saturday
    dom_star: bool
    dow_star: bool
    wildcard: bool
    dom_last_offsets: frozenset[int] = frozenset()  # L -> 0, L-3 -> 3
    dom_nearest_weekday: frozenset[int] = frozenset()  # 15W -> 15
    dom_last_weekday: bool = False  # LW
    dow_last: frozenset[int] = frozenset()  # 5L -> 5
    dow_nth: frozenset[tuple[int, int]] = frozenset()  # 1#2 -> (1, 2)
    has_seconds: bool = False
    _days_cache: dict[tuple[int, int], tuple[int, ...]] = field(default_factory=dict, repr=False)

    # -- days ---------------------------------------------------------------------------

    def compute_days(self, year: int, month: int) -> tuple[int, ...]:
        """The days of ``month`` that match both day fields, under Vixie's OR rule."""
        import calendar  # here: once per (year, month), and `import scheduler` stays light

        first_wd, ndays = calendar.monthrange(year, month)  # Monday = 0
        first = (first_wd + 1) % 7  # cron's Sunday = 0
        all_days = range(1, ndays + 1)

        dom_days = {d for d in self.dom if d <= ndays}
        for off in self.dom_last_offsets:
            if ndays - off >= 1:
                dom_days.add(ndays - off)
        for target in self.dom_nearest_weekday:
            if target <= ndays:
                dom_days.add(_nearest_weekday(target, ndays, first))
        if self.dom_last_weekday:
            dom_days.add(_nearest_weekday(ndays, ndays, first))

        dow_days = set()
        if self.dow or self.dow_last or self.dow_nth:
            for d in all_days:
                wd = (first + d - 1) % 7
                if (
                    wd in self.dow
                    or (wd in self.dow_last and d + 7 > ndays)
                    or (wd, (d - 1) // 7 + 1) in self.dow_nth
                ):
                    dow_days.add(d)

        days = (dom_days & dow_days) if (self.dom_star or self.dow_star) else (dom_days | dow_days)
        return tuple(sorted(days))

    def days(self, year: int, month: int) -> tuple[int, ...]:
        key = (year, month)
        cached = self._days_cache.get(key)
        if cached is None:
            if len(self._days_cache) >= _CACHE_MAX:
                self._days_cache.clear()
            cached = self._days_cache[key] = self.compute_days(year, month)
        return cached

    def ever_fires(self) -> bool:
        """Whether some allowed month has a matching day in some year (28 years cover them all)."""
        for year in range(2001, 2029):
            for month in self.months:
                if self.compute_days(year, month):
                    return True
        return False

    # -- search -------------------------------------------------------------------------

    def next_match(
        self, y: int, mo: int, d: int, h: int, mi: int, s: int
    ) -> tuple[int, int, int, int, int, int] | None:
        """The first matching wall time at or after ``(y, mo, d, h, mi, s)``, as a tuple.

        Fields past their range (``d`` = 32, ``h`` = 24, ...) carry into the next unit.
        Returns None when nothing matches within :data:`SEARCH_YEARS` years.
        """
        months, hours, minutes, seconds = self.months, self.hours, self.minutes, self.seconds
        limit = min(y + SEARCH_YEARS, 9999)
        while y <= limit:
            i = bisect_left(months, mo)
            if i == len(months):
                y, mo, d, h, mi, s = y + 1, months[0], 1, 0, 0, 0
                continue
            if months[i] != mo:
                mo, d, h, mi, s = months[i], 1, 0, 0, 0
            days = self.days(y, mo)
            j = bisect_left(days, d)
            if j == len(days):
                y, mo, d, h, mi, s = (y + 1, 1, 1, 0, 0, 0) if mo == 12 else (y, mo + 1, 1, 0, 0, 0)
                continue
            if days[j] != d:
                d, h, mi, s = days[j], 0, 0, 0
            k = bisect_left(hours, h)
            if k == len(hours):
                d, h, mi, s = d + 1, 0, 0, 0
                continue
            if hours[k] != h:
                h, mi, s = hours[k], 0, 0
            m = bisect_left(minutes, mi)
            if m == len(minutes):
                h, mi, s = h + 1, 0, 0
                continue
            if minutes[m] != mi:
                mi, s = minutes[m], 0
            q = bisect_left(seconds, s)
            if q == len(seconds):
                mi, s = mi + 1, 0
                continue
            return y, mo, d, h, mi, seconds[q]
        return None

    def matches(self, y: int, mo: int, d: int, h: int, mi: int, s: int = 0) -> bool:
        """Whether the wall time matches (slow path; for tests and tools)."""
        return (
            s in self.seconds
            and mi in self.minutes
            and h in self.hours
            and mo in self.months
            and d in self.days(y, mo)
        )


def _nearest_weekday(target: int, ndays: int, first: int) -> int:
    """The Monday-Friday day nearest ``target`` without leaving the month (Quartz's ``W``)."""
    wd = (first + target - 1) % 7
    if wd == 6:  # Saturday: Friday before, or Monday after when the 1st is a Saturday
        return target - 1 if target > 1 else target + 2
    if wd == 0:  # Sunday: Monday after, or Friday before when it is the last day
        return target + 1 if target < ndays else target - 2
    return target


# -- parsing ------------------------------------------------------------------------------


#: no cron field goes past 59: ten digits or more are refused before they are converted
_HUGE_NUMBER = re.compile(r"\d{10,}")


class _Parser:
    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.oversized_steps: list[tuple[str, str]] = []  # (field, token)

    def error(self, reason: str, field: str | None = None, token: str | None = None) -> NoReturn:
        raise InvalidCronExpression(self.expression, reason, field=field, token=token)

    def value(self, text: str, name: str, token: str) -> int:
        low, high, names = _FIELDS[name]
        if text.isdigit():
            number = int(text)
        elif names is not None and text.upper() in names:
            number = names[text.upper()]
        elif text.isalpha():
            valid = ", ".join(names) if names else "numbers only"
            self.error(f"unknown name {text!r} (valid: {valid})", name, token)
        else:
            self.error(f"{text!r} is not a number", name, token)
        if not low <= number <= high:
            self.error(f"{number} is outside {low}-{high}", name, token)
        return number

    def plain(self, token: str, name: str, alone: bool) -> list[int]:
        """``*``, ``a``, ``a-b``, with an optional ``/step``.

        A step larger than the range keeps the range's first value (cronie); ``alone`` says
        the token is the whole field, where such a step is noted for a warning.
        """
        low, high, _ = _FIELDS[name]
        base, slash, step_text = token.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit():
                self.error(f"step {step_text!r} is not a positive number", name, token)
            step = int(step_text)
            if step == 0:
                self.error("step must be at least 1", name, token)
        if base in ("*", "?"):
            start, stop = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            if not first or not last:
                self.error("a range needs both ends (a-b)", name, token)
            start, stop = self.value(first, name, token), self.value(last, name, token)
            if name == "day of week" and stop == 0 and start > 0:
                stop = 7  # FRI-SUN
            if start > stop:
                self.error(f"range {base!r} is reversed (start after end)", name, token)
        else:
            if not _ATOM.match(base):
                self.error("expected a number, a name, '*' or a range", name, token)
            start = self.value(base, name, token)
            stop = high if slash else start
        if slash and step > high - low and alone:
            # cronie accepts it with a warning; it means the range's first value only
            self.oversized_steps.append((name, token))
        return list(range(start, stop + 1, step))

    def field(self, text: str, name: str) -> dict[str, Any]:
        if text == "":
            self.error("empty field", name)
        out: dict[str, Any] = {
            "values": set(),
            "last": set(),
            "nearest": set(),
            "lw": False,
            "nth": set(),
        }
        for token in text.split(","):
            if token == "":
                self.error("empty list item", name, text)
            upper = token.upper()
            if "?" in token and (token != "?" or name not in ("day of month", "day of week")):
                self.error("'?' stands alone, and only in the day fields", name, token)
            if name == "day of month" and ("L" in upper or "W" in upper):
                self.dom_special(upper, token, out)
            elif "#" in token:
                if name != "day of week":
                    self.error("'#' is only allowed in the day of week field", name, token)
                day, _, nth = token.partition("#")
                weekday = self.value(day, name, token) % 7
                if not nth.isdigit() or not 1 <= int(nth) <= 5:
                    self.error("the n in 'day#n' must be 1-5", name, token)
                out["nth"].add((weekday, int(nth)))
            elif name == "day of week" and upper.endswith("L"):
                if upper == "L":
                    self.error("use 'nL' for the last weekday n of the month (5L)", name, token)
                out["last"].add(self.value(token[:-1], name, token) % 7)
            elif upper in ("L", "LW") or re.fullmatch(r"L-\d+|\d+W", upper):
                self.error(f"{token!r} is only allowed in the day of month field", name, token)
            else:
                values = self.plain(token, name, alone="," not in text)
                if name == "day of week":
                    values = [v % 7 for v in values]
                out["values"].update(values)
        return out

    def dom_special(self, upper: str, token: str, out: dict[str, Any]) -> None:
        name = "day of month"
        if upper == "L":
            out["last"].add(0)
        elif upper == "LW":
            out["lw"] = True
        elif upper.startswith("L-"):
            rest = upper[2:]
            if not rest.isdigit() or not 0 <= int(rest) <= 30:
                self.error("'L-n' needs n between 0 and 30", name, token)
            out["last"].add(int(rest))
        elif upper.endswith("W") and upper[:-1].isdigit():
            day = int(upper[:-1])
            if not 1 <= day <= 31:
                self.error(f"{day} is outside 1-31", name, token)
            out["nearest"].add(day)
        else:
            self.error("expected 'L', 'L-n', 'nW' or 'LW'", name, token)

    def parse(self) -> CronSpec:
        text = self.expression.strip()
        if not text:
            self.error("empty expression")
        if text.startswith("@"):
            expanded = MACROS.get(text.lower())
            if expanded is None:
                self.error(f"unknown macro {text!r} (valid: {', '.join(MACROS)})")
            text = expanded
        parts = text.split()
        if len(parts) not in (5, 6):
            self.error(
                f"expected 5 fields (minute hour day-of-month month day-of-week) or 6 with a "
                f"leading seconds field, got {len(parts)}"
            )
        has_seconds = len(parts) == 6
        if not has_seconds:
            parts = ["0", *parts]
        fields = {}
        for name, part in zip(_ORDER6, parts, strict=True):
            if not _PLAIN.match(part):
                bad = next(c for c in part if not _PLAIN.match(c))
                self.error(f"unexpected character {bad!r}", name, part)
            huge = _HUGE_NUMBER.search(part)
            if huge:  # refused before int(), which gives up on numbers of 4,300+ digits
                self.error(f"a {len(huge.group())}-digit number is far too large", name, part)
            fields[name] = self.field(part, name)
        dom, dow = fields["day of month"], fields["day of week"]
        spec = CronSpec(
            expression=self.expression,
            seconds=tuple(sorted(fields["second"]["values"])),
            minutes=tuple(sorted(fields["minute"]["values"])),
            hours=tuple(sorted(fields["hour"]["values"])),
            months=tuple(sorted(fields["month"]["values"])),
            dom=frozenset(dom["values"]),
            dow=frozenset(dow["values"]),
            dom_star=parts[3].startswith(("*", "?")),
            dow_star=parts[5].startswith(("*", "?")),
            wildcard=parts[1].startswith("*") or parts[2].startswith("*"),
            dom_last_offsets=frozenset(dom["last"]),
            dom_nearest_weekday=frozenset(dom["nearest"]),
            dom_last_weekday=dom["lw"],
            dow_last=frozenset(dow["last"]),
            dow_nth=frozenset(dow["nth"]),
            has_seconds=has_seconds,
        )
        if not spec.ever_fires():
            self.error("it never fires (no allowed month has a matching day)")
        for name, token in self.oversized_steps:
            _warn_oversized_step(self.expression, name, token)
        return spec


_warned: set[tuple[str, str]] = set()


def _warn_oversized_step(expression: str, name: str, token: str) -> None:
    """Log once per process per expression and field: ``*/90`` is one minute an hour, not
    every 90 minutes, which cron cannot express. In a list (``*/100,1-7``) the step is taken
    as meant (the "first Monday" idiom) and not reported."""
    if (expression, name) in _warned:
        return
    if len(_warned) >= _CACHE_MAX:
        _warned.clear()
    _warned.add((expression, name))
    low, high, _ = _FIELDS[name]
    base = token.partition("/")[0]
    first = low if base in ("*", "?") else base.partition("-")[0]
    safe_log(
        _log,
        logging.WARNING,
        "cron %r: step in %r is larger than the %s field (%d-%d), so it means %s only; "
        "cron cannot express a period longer than the field",
        expression,
        token,
        name,
        low,
        high,
        first,
        extra={"expression": expression, "field": name, "token": token},
    )


def parse(expression: str) -> CronSpec:
    """Parse ``expression`` into a :class:`CronSpec`.

    :raises InvalidCronExpression: naming the field and token at fault, or saying that the
        expression can never fire (``0 0 30 2 *``)
    """
    if not isinstance(expression, str):
        raise InvalidCronExpression(repr(expression), "a cron expression must be a string")
    return _Parser(expression).parse()
