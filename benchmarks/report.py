"""A benchmark's markdown report, rewritten without losing the notes added to it by hand.

A report is its title line, then notes written by people (how and with which code its rows
were run, what they show), then what the benchmark generates. A marker line, an HTML comment
that rendered markdown does not show, separates the notes from the generated part: a rerun
replaces only what follows it. A report without the marker is replaced whole.
"""

from __future__ import annotations

from pathlib import Path

MARKER = "<!-- Notes above this line are kept when the benchmark rewrites this report. -->"


def notes(text: str) -> str:
    """The notes of a report: the text between its title line and the marker ("" without
    a marker)."""
    head, found, _ = text.partition(MARKER)
    if not found:
        return ""
    return head.partition("\n")[2].strip("\n")


def with_notes(report: str, kept: str) -> str:
    """``report`` (a title line, then the generated part) with the notes ``kept`` and the
    marker between its title and the rest."""
    title, _, generated = report.partition("\n")
    parts = [title, kept, MARKER, generated.strip("\n")]
    return "\n\n".join(part for part in parts if part) + "\n"


def write_report(path, report: str) -> None:
    """Write ``report`` (a title line, then the generated part) to ``path``, keeping the
    notes of the report already there."""
    path = Path(path)
    kept = notes(path.read_text()) if path.exists() else ""
    path.write_text(with_notes(report, kept))
