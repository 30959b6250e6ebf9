"""Semester reports (PKS: one per semester, June and December, per institution): figures from
the fleet store reconciled with the gateway's counts, a PDF with charts, a CSV/JSON annex, an
Ed25519 signature of the PDF's hash, and the reminders that one is due."""
