"""Reading the calendar data a letter carries. icalendar types a property as the union of every value type it
knows (vText, vGeo, vRecur, …); these say which one a test expects, and fail by name if it is another."""

import datetime as dt

from icalendar import Component, vDDDTypes, vInt


def when(component: Component, name: str) -> dt.date:
    """A date property (DTSTART, DUE, DTSTAMP) as Python's date, or date-time (a date too)."""
    prop = component[name]
    assert isinstance(prop, vDDDTypes), f"{name} is not a date property: {prop!r}"
    value = prop.dt
    assert isinstance(value, dt.date), f"{name} is not a date: {value!r}"
    return value


def sequence(component: Component) -> int:
    """The entry's SEQUENCE: the revision a calendar keeps the newest of."""
    prop = component["SEQUENCE"]
    assert isinstance(prop, vInt), f"SEQUENCE is not a number: {prop!r}"
    return int(prop)

