"""The report's charts, drawn with matplotlib (Agg) as SVG files for the PDF."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fleet.semester.figures import ReportData
from fleet.semester.period import MONTHS_ID
from protocol.outcomes import Outcome

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_FOUND = (Outcome.FOUND.value,)
_NOT_FOUND = (Outcome.NOT_FOUND.value,)
_OTHER_UPSTREAM = tuple(
    o.value for o in Outcome if o.info.upstream and o not in (Outcome.FOUND, Outcome.NOT_FOUND)
)
_REFUSED = (Outcome.PATTERN_BLOCKED.value,)
GROUPS = (
    ("Ditemukan", _FOUND, "#2e7d32"),
    ("Tidak ditemukan", _NOT_FOUND, "#f9a825"),
    ("Jawaban Dukcapil lain", _OTHER_UPSTREAM, "#1565c0"),
    ("Ditolak anti-scraping", _REFUSED, "#c62828"),
)
_KIOSK_SIDE = "Hasil di kios"


def _short(month: str) -> str:
    return MONTHS_ID[int(month[5:7]) - 1][:3]


def draw(data: ReportData, folder: Path) -> list[str]:
    """Write the charts into `folder`; their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "semester-report", "font.size": 9})
    labels = [_short(m.month) for m in data.months]
    names = []

    fig, ax = plt.subplots(figsize=(7.0, 2.8))
    bottom = [0] * len(data.months)
    grouped: set[str] = set()
    for name, outcomes, colour in GROUPS:
        values = [sum(m.outcomes.get(o, 0) for o in outcomes) for m in data.months]
        ax.bar(labels, values, bottom=bottom, label=name, color=colour)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        grouped.update(outcomes)
    rest = [sum(n for o, n in m.outcomes.items() if o not in grouped) for m in data.months]
    ax.bar(labels, rest, bottom=bottom, label=_KIOSK_SIDE, color="#9e9e9e")
    ax.set_ylabel("sesi")
    ax.set_title("Sesi per bulan menurut hasil")
    ax.legend(fontsize=7, ncols=3, loc="upper left", bbox_to_anchor=(0, -0.12), frameon=False)
    names.append(_save(fig, folder, "sesi.svg"))

    fig, ax = plt.subplots(figsize=(7.0, 2.4))
    x = range(len(labels))
    used = [m.quota_used for m in data.months]
    ax.bar([i - 0.2 for i in x], used, width=0.4, label="Kuota terpakai", color="#1565c0")
    if all(m.quota_allowed is not None for m in data.months):
        allowed = [m.quota_allowed or 0 for m in data.months]
        ax.bar([i + 0.2 for i in x], allowed, width=0.4, label="Batas kuota", color="#90caf9")
    found = [m.found for m in data.months]
    sent = [m.balikan_sent or 0 for m in data.months]
    ax.plot(list(x), found, "o-", color="#2e7d32", label="Ditemukan (FOUND)")
    ax.plot(list(x), sent, "s--", color="#6a1b9a", label="Data balikan terkirim")
    ax.set_xticks(list(x), labels)
    ax.set_title("Kuota dan data balikan per bulan")
    ax.legend(fontsize=7, ncols=4, loc="upper left", bbox_to_anchor=(0, -0.12), frameon=False)
    names.append(_save(fig, folder, "kuota.svg"))
    return names


def _save(fig: Figure, folder: Path, name: str) -> str:
    import matplotlib.pyplot as plt

    fig.savefig(folder / name, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return name
