"""The core service: everything around the pure queue core that does I/O.

The journal (journal.py, SQLite WAL, one fsync per group of requests), the durable store that
replays it into a `qcore.BranchCore` (store.py), who may send which command (auth.py), the branch
clock that never runs backwards on a Raspberry Pi (clock.py), and the service loop that serves the
bus (service.py, runner.py). qcore stays pure so it can be property-tested and replayed; this
package is where that purity is paid for.
"""
