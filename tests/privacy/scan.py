"""The canary scanner the privacy tests share: common/canary.py (`kiosk-fleet evidence` uses it
too)."""

from common.canary import Hit, files_under, needle_forms, scan_bytes, scan_tree

__all__ = ["Hit", "files_under", "needle_forms", "scan_bytes", "scan_tree"]
