"""Appointments (预约) the core holds: booked on the web, by CSV or by a bank's booking system,
checked in at the kiosk. Kept across day resets (a booking is for a later day as often as not);
a day's bookings nobody checked in for become `missed` at that day's reset and are then dropped.

Pure data: the core's operations (`BranchCore.book`, `check_in`, ...) change it. `customer` is the
keyed hash the kiosk will match a swiped card against; only the masked name is ever shown.
"""

from __future__ import annotations

from qbus import messages as m


class Booking:
    __slots__ = ("customer", "view")

    def __init__(self, view: m.BookingView, customer: str) -> None:
        self.view = view
        self.customer = customer

    @property
    def open(self) -> bool:
        """Still waiting for its customer to check in."""
        return self.view.status == "booked"
