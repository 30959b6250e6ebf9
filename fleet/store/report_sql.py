"""The fleet store's statements for semester reports: the table of reports made, and an
institution's usage over a semester.

The report table is additive: `REPORT_SCHEMA` is run (CREATE ... IF NOT EXISTS) on every open,
so a store made before it gains it without a schema version of its own.
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

USAGE_COUNTS = (
    "SELECT u.day, u.counts FROM usage u JOIN device d ON d.device = u.device "
    "WHERE d.institution = ? AND u.day >= ? AND u.day <= ?"
)
USAGE_KIOSKS = (
    "SELECT substr(u.day, 1, 7), count(DISTINCT u.device) FROM usage u "
    "JOIN device d ON d.device = u.device "
    "WHERE d.institution = ? AND u.day >= ? AND u.day <= ? GROUP BY substr(u.day, 1, 7)"
)
