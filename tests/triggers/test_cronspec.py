from __future__ import annotations

import logging

import pytest

from scheduler.exceptions import InvalidCronExpression
from scheduler.triggers import _cronspec
from scheduler.triggers._cronspec import parse


def days(expr: str, year: int, month: int) -> tuple[int, ...]:
    return parse(expr).days(year, month)


@pytest.mark.parametrize(
    ("expr", "attr", "expected"),
    [
        pytest.param("* * * * *", "minutes", tuple(range(60)), id="star"),
        pytest.param("*/15 * * * *", "minutes", (0, 15, 30, 45), id="star-step"),
        pytest.param("10-50/5 * * * *", "minutes", tuple(range(10, 51, 5)), id="range-step"),
        pytest.param("5/15 * * * *", "minutes", (5, 20, 35, 50), id="start-step"),
        pytest.param("1,2,30-32 * * * *", "minutes", (1, 2, 30, 31, 32), id="list"),
        pytest.param("0 9-17 * * *", "hours", tuple(range(9, 18)), id="hour-range"),
        pytest.param("0 0 1 jan-Mar *", "months", (1, 2, 3), id="month-names"),
        pytest.param("0 0 1 JAN,jul,DEC *", "months", (1, 7, 12), id="month-name-list"),
        pytest.param("0 0 1 */4 *", "months", (1, 5, 9), id="month-step"),
        pytest.param("30 */5 * * * *", "seconds", (30,), id="seconds-field"),
        pytest.param("*/20 * * * * *", "seconds", (0, 20, 40), id="seconds-step"),
        pytest.param("0 * * * *", "seconds", (0,), id="five-fields-second-zero"),
        # a step past the field's size keeps the range's first value (cronie) (#9)
        pytest.param("*/100 * * * *", "minutes", (0,), id="step-past-field"),
        pytest.param("*/60 * * * *", "minutes", (0,), id="step-equal-field-size"),
        pytest.param("20-40/30 * * * *", "minutes", (20,), id="range-step-past-range"),
        pytest.param("7/100 * * * *", "minutes", (7,), id="start-step-past-field"),
        pytest.param("0 */24 * * *", "hours", (0,), id="hour-step-past-field"),
        pytest.param("0 0 1 */13 *", "months", (1,), id="month-step-past-field"),
    ],
)
def test_fields(expr: str, attr: str, expected: tuple[int, ...]) -> None:
    assert getattr(parse(expr), attr) == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("0 0 * * 0", {0}),
        ("0 0 * * 7", {0}),
        ("0 0 * * sun", {0}),
        ("0 0 * * MON-FRI", {1, 2, 3, 4, 5}),
        ("0 0 * * FRI-SUN", {5, 6, 0}),
        ("0 0 * * 5-7", {5, 6, 0}),
        ("0 0 * * */2", {0, 2, 4, 6}),
        ("0 0 ? * 1", {1}),
    ],
)
def test_day_of_week(expr: str, expected: set[int]) -> None:
    assert parse(expr).dow == expected


@pytest.mark.parametrize(
    ("macro", "equivalent"),
    [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
        ("@DAILY", "0 0 * * *"),
    ],
)
def test_macros(macro: str, equivalent: str) -> None:
    a, b = parse(macro), parse(equivalent)
    assert (a.minutes, a.hours, a.months, a.dom, a.dow, a.wildcard) == (
        b.minutes,
        b.hours,
        b.months,
        b.dom,
        b.dow,
        b.wildcard,
    )
    assert a.days(2026, 2) == b.days(2026, 2)


@pytest.mark.parametrize(
    ("expr", "wildcard"),
    [
        ("* * * * *", True),
        ("*/15 * * * *", True),
        ("0 * * * *", True),
        ("@hourly", True),
        ("30 2 * * *", False),
        ("0 */2 * * *", True),
        ("0-59 * * * *", True),
        ("0-59 0-23 * * *", False),
        ("@daily", False),
        ("* 3 4 * * *", False),  # seconds field does not count
        ("0 * 3 * * *", True),
    ],
)
def test_wildcard_class(expr: str, wildcard: bool) -> None:
    assert parse(expr).wildcard is wildcard


# 2026-02: Sunday the 1st, 28 days. 2026-03: Sunday the 1st, 31 days.
@pytest.mark.parametrize(
    ("expr", "year", "month", "expected"),
    [
        pytest.param("0 0 1,15 * *", 2026, 2, (1, 15), id="dom-only"),
        pytest.param("0 0 * * MON", 2026, 2, (2, 9, 16, 23), id="dow-only"),
        pytest.param("0 0 1,15 * MON", 2026, 2, (1, 2, 9, 15, 16, 23), id="vixie-or"),
        pytest.param("0 0 */2 * MON", 2026, 2, (9, 23), id="star-step-dom-means-and"),
        pytest.param("0 0 1,15 * */3", 2026, 2, (1, 15), id="star-step-dow-means-and"),
        pytest.param("0 0 1 * ?", 2026, 2, (1,), id="question-mark"),
        pytest.param("0 0 L * *", 2026, 2, (28,), id="L-feb"),
        pytest.param("0 0 L * *", 2028, 2, (29,), id="L-leap-feb"),
        pytest.param("0 0 L * *", 2026, 4, (30,), id="L-april"),
        pytest.param("0 0 L-3 * *", 2026, 3, (28,), id="L-minus"),
        pytest.param("0 0 L-30 * *", 2026, 2, (), id="L-minus-out-of-month"),
        pytest.param("0 0 15W * *", 2026, 2, (16,), id="W-sunday-to-monday"),
        pytest.param("0 0 14W * *", 2026, 2, (13,), id="W-saturday-to-friday"),
        pytest.param("0 0 1W * *", 2025, 11, (3,), id="W-1st-saturday-stays-in-month"),
        pytest.param("0 0 31W * *", 2026, 5, (29,), id="W-last-sunday-stays-in-month"),
        pytest.param("0 0 31W * *", 2026, 4, (), id="W-day-missing"),
        pytest.param("0 0 LW * *", 2026, 5, (29,), id="LW"),
        pytest.param("0 0 LW * *", 2026, 2, (27,), id="LW-feb"),
        pytest.param("0 0 * * 5L", 2026, 2, (27,), id="last-friday"),
        pytest.param("0 0 * * FRIL", 2026, 2, (27,), id="last-friday-name"),
        pytest.param("0 0 * * 0L", 2026, 3, (29,), id="last-sunday"),
        # the month ends on that weekday: the last day, not the one a week before (#16)
        pytest.param("0 0 * * 5L", 2026, 7, (31,), id="last-friday-is-last-day"),
        pytest.param("0 0 * * 6L", 2026, 2, (28,), id="last-saturday-is-feb-28"),
        # cronsim's "first Monday" idiom: */100 makes the field start with '*', so AND (#9)
        pytest.param("1 1 */100,1-7 * MON", 2026, 2, (2,), id="first-monday-idiom"),
        pytest.param("1 1 */100,1-7 * MON", 2026, 6, (1,), id="first-monday-idiom-1st"),
        pytest.param("0 0 * * 1#2", 2026, 2, (9,), id="second-monday"),
        pytest.param("0 0 * * SUN#5", 2026, 3, (29,), id="fifth-sunday"),
        pytest.param("0 0 * * SUN#5", 2026, 2, (), id="no-fifth-sunday"),
        pytest.param("0 0 29 2 *", 2028, 2, (29,), id="feb-29-leap"),
        pytest.param("0 0 29 2 *", 2026, 2, (), id="feb-29-common"),
        pytest.param("0 0 L * 1#1", 2026, 2, (2, 28), id="L-or-hash"),
        pytest.param("0 0 13 * 5", 2026, 2, (6, 13, 20, 27), id="friday-or-13th"),
    ],
)
def test_days(expr: str, year: int, month: int, expected: tuple[int, ...]) -> None:
    assert days(expr, year, month) == expected


def test_next_match_carries_and_jumps() -> None:
    spec = parse("0 0 29 2 *")
    assert spec.next_match(2026, 1, 1, 0, 0, 0) == (2028, 2, 29, 0, 0, 0)
    spec = parse("*/15 * * * *")
    assert spec.next_match(2026, 12, 31, 23, 59, 1) == (2027, 1, 1, 0, 0, 0)
    assert spec.next_match(2026, 1, 31, 24, 0, 0) == (2026, 2, 1, 0, 0, 0)


@pytest.mark.parametrize(
    ("expr", "field", "token", "reason"),
    [
        pytest.param("61 * * * *", "minute", "61", "outside 0-59", id="minute-range"),
        pytest.param("0 24 * * *", "hour", "24", "outside 0-23", id="hour-range"),
        pytest.param("0 0 0 * *", "day of month", "0", "outside 1-31", id="dom-range"),
        pytest.param("0 0 * 13 *", "month", "13", "outside 1-12", id="month-range"),
        pytest.param("0 0 * * 8", "day of week", "8", "outside 0-7", id="dow-range"),
        pytest.param("60 * * * * *", "second", "60", "outside 0-59", id="second-range"),
        pytest.param("0 0 * JANUARY *", "month", "JANUARY", "unknown name", id="bad-name"),
        pytest.param("0 0 * * MON-FUN", "day of week", "MON-FUN", "unknown name", id="bad-dow"),
        pytest.param("MON * * * *", "minute", "MON", "unknown name", id="name-in-minute"),
        pytest.param("*/0 * * * *", "minute", "*/0", "step must be at least 1", id="step-zero"),
        pytest.param("*/x * * * *", "minute", "*/x", "step", id="step-garbage"),
        pytest.param("30-10 * * * *", "minute", "30-10", "reversed", id="reversed-range"),
        pytest.param("0 0 * * FRI-MON", "day of week", "FRI-MON", "reversed", id="reversed-dow"),
        pytest.param("1,,2 * * * *", "minute", "1,,2", "empty list item", id="empty-item"),
        pytest.param("1, * * * *", "minute", "1,", "empty list item", id="trailing-comma"),
        pytest.param("5- * * * *", "minute", "5-", "both ends", id="half-range"),
        pytest.param("5% * * * *", "minute", "5%", "unexpected character", id="garbage"),
        pytest.param("0 0 * * 1#6", "day of week", "1#6", "1-5", id="hash-6"),
        pytest.param("0 0 * * 1#0", "day of week", "1#0", "1-5", id="hash-0"),
        pytest.param("0 0 1#2 * *", "day of month", "1#2", "'#' is only", id="hash-in-dom"),
        pytest.param("0 0 32W * *", "day of month", "32W", "outside 1-31", id="32W"),
        pytest.param("0 0 0W * *", "day of month", "0W", "outside 1-31", id="0W"),
        pytest.param("0 0 * * 5W", "day of week", "5W", "only allowed", id="W-in-dow"),
        pytest.param("0 L * * *", "hour", "L", "only allowed", id="L-in-hour"),
        pytest.param("0 0 * * L", "day of week", "L", "nL", id="bare-L-in-dow"),
        pytest.param("0 0 L-31 * *", "day of month", "L-31", "L-n", id="L-minus-31"),
        pytest.param("0 0 LX * *", "day of month", "LX", "expected", id="bad-L"),
        pytest.param("0 0 * * 9L", "day of week", "9L", "outside 0-7", id="9L"),
        pytest.param("? * * * *", "minute", "?", "only in the day fields", id="question-min"),
    ],
)
def test_errors_name_field_and_token(expr: str, field: str, token: str, reason: str) -> None:
    with pytest.raises(InvalidCronExpression) as info:
        parse(expr)
    assert info.value.field == field
    assert info.value.token == token
    assert info.value.expression == expr
    info.match(reason)
    assert field in str(info.value) and repr(token) in str(info.value)
    assert repr(expr) in str(info.value)


@pytest.mark.parametrize(
    ("expr", "reason"),
    [
        pytest.param("* * * *", "expected 5 fields .* got 4", id="too-few"),
        pytest.param("* * * * * * *", "got 7", id="too-many"),
        pytest.param("", "empty expression", id="empty"),
        pytest.param("@reboot", "unknown macro", id="reboot"),
        pytest.param("0 0 30 2 *", "never fires", id="feb-30"),
        pytest.param("0 0 31 4,6,9,11 *", "never fires", id="31-in-short-months"),
        pytest.param("0 0 31W 2 *", "never fires", id="31W-feb"),
    ],
)
def test_expression_level_errors(expr: str, reason: str) -> None:
    with pytest.raises(InvalidCronExpression, match=reason) as info:
        parse(expr)
    assert info.value.field is None


def test_non_string_rejected() -> None:
    with pytest.raises(InvalidCronExpression, match="must be a string"):
        parse(5)  # type: ignore[arg-type]


def test_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse("99 * * * *")


def test_step_past_field_warns_once_when_alone(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``*/90`` is probably meant as every 90 minutes, which cron cannot say: warn, once."""
    monkeypatch.setattr(_cronspec, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="scheduler.triggers"):
        parse("*/90 * * * *")
        parse("*/90 * * * *")
    [record] = caplog.records
    assert record.getMessage() == (
        "cron '*/90 * * * *': step in '*/90' is larger than the minute field (0-59), so it "
        "means 0 only; cron cannot express a period longer than the field"
    )
    assert (record.field, record.token) == ("minute", "*/90")  # type: ignore[attr-defined]


def test_step_past_field_in_a_list_is_the_idiom_and_silent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="scheduler.triggers"):
        parse("1 1 */100,1-7 * MON")
        parse("*/59 * * * *")  # minutes 0 and 59: the step still reaches a second value
    assert caplog.records == []


@pytest.mark.parametrize("expr", ["0 0 29 2 *", "0 0 L 2 *", "0 0 31 1-12 *", "0 0 30 2 MON"])
def test_rare_but_possible_accepted(expr: str) -> None:
    parse(expr)
