"""The queue core: pure, deterministic, O(log n) per operation. See docs/architecture.md."""

from qcore.core import BranchCore
from qcore.errors import CoreError
from qcore.ticket import State, Ticket

__all__ = ["BranchCore", "CoreError", "State", "Ticket"]
