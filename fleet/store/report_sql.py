"""The fleet store's statements for semester reports: the table of reports made, and the sums of
an institution's usage per day and outcome.

The report table is additive: `REPORT_SCHEMA` is run (CREATE ... IF NOT EXISTS) on every open,
so a store made before it gains it without a schema version of its own. The sums unpack each
day's JSON counts in the database, with the engine's own table function (`{each}`: SQLite's
`json_each`, PostgreSQL's `jsonb_each_text`), so a semester of 10,000 kiosks never travels to
Python row by row.
"""

# The statements are built from constants, never from input.
# ruff: noqa: S608

from __future__ import annotations

REPORT_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS semester_report (
        institution TEXT NOT NULL, semester TEXT NOT NULL, made_at BIGINT NOT NULL,
        by_admin TEXT NOT NULL, sha256 TEXT NOT NULL, file TEXT NOT NULL,
        PRIMARY KEY (institution, semester, made_at, sha256))""",
)

REPORT_FIELDS = "institution, semester, made_at, by_admin, sha256, file"
INSERT_REPORT = (
    f"INSERT INTO semester_report ({REPORT_FIELDS}) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)
REPORTS = f"SELECT {REPORT_FIELDS} FROM semester_report"

# `{each}` names the table function over u.counts with columns (key, value); `{value}` the value
# as an integer.
USAGE_TOTALS = (
    "SELECT u.day, j.key, sum({value}) FROM usage u JOIN device d ON d.device = u.device, "
    "{each} WHERE d.institution = ? AND u.day >= ? AND u.day <= ? GROUP BY u.day, j.key"
)
USAGE_KIOSKS = (
    "SELECT substr(u.day, 1, 7), count(DISTINCT u.device) FROM usage u "
    "JOIN device d ON d.device = u.device "
    "WHERE d.institution = ? AND u.day >= ? AND u.day <= ? GROUP BY substr(u.day, 1, 7)"
)
SQLITE_EACH = {"each": "json_each(u.counts) AS j", "value": "j.value"}
POSTGRES_EACH = {"each": "jsonb_each_text(u.counts::jsonb) AS j", "value": "j.value::bigint"}
