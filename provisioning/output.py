"""What `kiosk-provision` prints: progress lines (Indonesian first, English second) or JSON Lines.

With `--json` every event is one JSON object on its own line: {"event": "step", ...} when a
step starts, {"event": "done", "result": ...} or {"event": "failed", "error": ...} when it ends,
{"event": "end", "exit_code": N} at the end of a run.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from provisioning.errors import ProvisionError


class Reporter:
    """Progress on a text stream, for a person or (json=True) for a script."""

    def __init__(self, *, json_lines: bool = False, stream: TextIO | None = None) -> None:
        self.json = json_lines
        self._out = stream if stream is not None else sys.stdout

    def emit(self, obj: dict[str, Any]) -> None:
        """One JSON Lines event."""
        self._out.write(json.dumps(obj, sort_keys=True, ensure_ascii=False) + "\n")
        self._out.flush()

    def _line(self, text: str) -> None:
        self._out.write(text + "\n")
        self._out.flush()

    def step(self, index: int, total: int, name: str, title_id: str, title_en: str) -> None:
        """A step begins."""
        if self.json:
            self.emit({"event": "step", "step": name, "index": index, "total": total})
        else:
            self._line(f"[{index}/{total}] {title_id} / {title_en}")

    def done(self, name: str, result: dict[str, Any], *, again: bool) -> None:
        """A step finished (again: in an earlier run)."""
        if self.json:
            self.emit({"event": "done", "step": name, "again": again, "result": result})
            return
        head = "  sudah selesai sebelumnya / already done" if again else "  OK"
        self._line(head)
        for key, value in sorted(result.items()):
            self._line(f"    {key}: {value}")

    def failed(self, name: str, err: ProvisionError) -> None:
        """A step failed; the run stops with its exit code."""
        if self.json:
            self.emit({"event": "failed", "step": name, "error": err.as_json()})
            self.emit({"event": "end", "exit_code": err.exit_code})
            return
        self._line(f"  GAGAL / FAILED [{err.code}, kode keluar / exit code {err.exit_code}]")
        self._line(f"  {err.message_id}")
        self._line(f"  {err.message_en}")
        if err.retry:
            self._line("  Jalankan perintah yang sama lagi untuk melanjutkan.")
            self._line("  Run the same command again to continue.")

    def note(self, text_id: str, text_en: str) -> None:
        """A line for the person (nothing with --json)."""
        if not self.json:
            self._line(f"  {text_id}")
            self._line(f"  {text_en}")

    def end(self, exit_code: int) -> None:
        """The run ended."""
        if self.json:
            self.emit({"event": "end", "exit_code": exit_code})
        elif exit_code == 0:
            self._line("Selesai: semua langkah berhasil. / Done: every step succeeded.")

    def result(self, obj: dict[str, Any], text: str) -> None:
        """One result of a command without steps (status)."""
        if self.json:
            self.emit(obj)
        else:
            self._line(text)
