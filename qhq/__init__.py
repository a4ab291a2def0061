"""Head office: every branch's facts in PostgreSQL (ingest from the central broker) and the
reports read across branches. See docs/hq.md."""
