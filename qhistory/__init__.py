"""The branch's memory: closed business days archived as facts, figures and reports over any period,
the complaints book. See docs/history.md.

Modules: `facts` (the fact model), `schema` (its SQL), `store` (SQLite / PostgreSQL), `collect`
(a day's domain events -> facts), `replay` (a day's journal rows -> events, through a fresh core),
`period`, `figures` (KPIs), `report` (build a Report), `render` (HTML / CSV / JSON), `charts`,
`complaints`. Simulated months come from qcall.simulate_month.
"""
