"""The branch itself: business types, customer tiers, counters, tellers, calling rules, hours."""

from __future__ import annotations

import msgspec

from qbus.config.sections import (
    Base,
    BusSection,
    ClockSection,
    ComplaintsSection,
    DisplaySection,
    HistorySection,
    HqSection,
    KioskSection,
    LimitsSection,
    PinsSection,
    PrinterSection,
    PrivacySection,
    SerialLine,
    StorageSection,
    TargetsSection,
    VoiceSection,
    WebSection,
)


class Branch(Base, kw_only=True):
    """Identity of the branch, printed on tickets and shown on the hall display."""

    id: str
    name_zh: str
    name_en: str
    bank_zh: str = ""
    bank_en: str = ""
    timezone: str = "Asia/Shanghai"


class Hours(Base, kw_only=True):
    """Opening hours (local time, HH:MM) and the daily reset of ticket numbers."""

    open: str = "09:00"
    close: str = "17:00"
    daily_reset: str = "03:00"
    weekdays: list[int] = msgspec.field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7])


class Business(Base, kw_only=True):
    """A business type: one queue family, one ticket prefix letter."""

    code: str
    prefix: str
    name_zh: str
    name_en: str
    service_minutes: float = 5.0
    self_service_zh: str = ""
    self_service_en: str = ""


class Tier(Base, kw_only=True):
    """A customer tier. Lower rank is served first; `priority` tiers count for interleaving."""

    code: str
    rank: int
    name_zh: str
    name_en: str
    max_wait_minutes: float = 10.0
    priority: bool = False
    mark: str = ""
    by_staff_only: bool = False
    # What customers are shown (kiosk greeting, ticket): a respectful name for a category that is
    # internal ("老弱病残孕" stays in staff views and reports). Empty: name_zh/name_en + 客户/customer.
    customer_zh: str = ""
    customer_en: str = ""

    def customer_names(self) -> tuple[str, str]:
        """The tier's name as customers see it (zh, en)."""
        zh = self.customer_zh or (self.name_zh if self.name_zh.endswith("客户") else f"{self.name_zh}客户")
        en = self.customer_en or (self.name_en if self.name_en.lower().endswith("customer")
                                  else f"{self.name_en} customer")
        return zh, en


class Counter(Base, kw_only=True):
    """A counter: which business types it serves (with weights) and which tiers it prefers."""

    id: int
    name_zh: str = ""
    name_en: str = ""
    serves: dict[str, int]
    prefers: list[str] = []
    tiers: list[str] = []
    zone_zh: str = ""
    zone_en: str = ""


class Teller(Base, kw_only=True):
    """A member of staff. Their PIN's hash is not here but in `[pins] file`, on the server only."""

    id: str
    name: str
    role: str = "teller"


class Rules(Base, kw_only=True):
    """Calling rules shared by every counter."""

    interleave_priority: int = 2
    interleave_normal: int = 1
    aging_minutes: float = 30.0
    max_recalls: int = 3
    requeue_window_minutes: float = 30.0
    requeue_position: str = "back"
    wait_alert_minutes: float = 10.0
    number_width: int = 3
    appointment_early_minutes: float = 15.0  # check-in earlier than this before the booked time: come back
    appointment_late_minutes: float = 15.0  # check-in later than this after it: a normal ticket instead
    appointment_slot_minutes: int = 30  # bookable slots start on this grid
    appointment_slot_capacity: int = 2  # bookings per business type and slot


class Rating(Base, kw_only=True):
    """Star rating pads: scale, timeout after which a service counts as unrated, satisfied threshold."""

    scale: int = 5
    timeout_s: float = 20.0
    satisfied_min: int = 4


class BranchConfig(Base, kw_only=True):
    """The whole branch, as one validated document."""

    branch: Branch
    business: list[Business]
    tier: list[Tier]
    counter: list[Counter]
    teller: list[Teller] = []
    hours: Hours = msgspec.field(default_factory=Hours)
    rules: Rules = msgspec.field(default_factory=Rules)
    rating: Rating = msgspec.field(default_factory=Rating)
    bus: BusSection = msgspec.field(default_factory=BusSection)
    storage: StorageSection = msgspec.field(default_factory=StorageSection)
    clock: ClockSection = msgspec.field(default_factory=ClockSection)
    pins: PinsSection = msgspec.field(default_factory=PinsSection)
    hq: HqSection = msgspec.field(default_factory=HqSection)
    limits: LimitsSection = msgspec.field(default_factory=LimitsSection)
    privacy: PrivacySection = msgspec.field(default_factory=PrivacySection)
    printer: PrinterSection = msgspec.field(default_factory=PrinterSection)
    kiosk: KioskSection = msgspec.field(default_factory=KioskSection)
    display: DisplaySection = msgspec.field(default_factory=DisplaySection)
    voice: VoiceSection = msgspec.field(default_factory=VoiceSection)
    serial: list[SerialLine] = []
    targets: TargetsSection = msgspec.field(default_factory=TargetsSection)
    history: HistorySection = msgspec.field(default_factory=HistorySection)
    complaints: ComplaintsSection = msgspec.field(default_factory=ComplaintsSection)
    web: WebSection = msgspec.field(default_factory=WebSection)
