"""Spoken prompts of the kiosk page, made from fixed texts with Debian's espeak-ng.

Every prompt is one fixed text per language (never anything of a citizen), so the files are the
same for everyone. They are made once into a folder (on first use, or with
`python -m edge_agent.ui.voice <folder>` during set-up), never at run time from a network
service; a prompt whose text changed is made again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Final

from edge_agent.ui.texts import text
from protocol.outcomes import Lang, Outcome

_log = logging.getLogger(__name__)

LANGS: Final = ("id", "en")
_VOICES: Final = {"id": "id", "en": "en-gb"}
_SPEED: Final = 140  # words a minute: slower than espeak-ng's 175, for a public place
_MANIFEST: Final = "prompts.json"
_KEY: Final = re.compile(r"^[a-z_]+(\.[A-Za-z_]+)*$")
_FINGERS: Final = ("right_index", "left_index")


class VoiceError(Exception):
    """The prompts cannot be made (espeak-ng missing or failing, the folder not writable)."""


def _say(*parts: str) -> str:
    return " ".join(p.rstrip("…").rstrip(".") + "." for p in parts)


def prompts(lang: str) -> dict[str, str]:
    """Every prompt key of the page and what is spoken for it in `lang`."""
    lg = Lang.EN if lang == "en" else Lang.ID
    out = {
        "idle": _say(text("idle.title", lang)),
        "take_card": _say(text("idle.take_title", lang)),
        "notice": _say(text("notice.speak", lang)),
        "reading": _say(text("reading.title", lang), text("reading.hint", lang)),
        "querying": _say(text("querying.title", lang), text("querying.hint", lang)),
    }
    for finger in _FINGERS:
        ask = text(f"finger.{finger}", lang)
        out[f"finger.{finger}"] = _say(ask)
        for problem in ("mismatch", "poor_image"):
            out[f"finger.{finger}.{problem}"] = _say(text(f"finger.{problem}", lang), ask)
    for outcome in Outcome:
        parts = [outcome.text(lg), outcome.hint(lg)]
        if outcome is Outcome.FINGER_MISMATCH:
            parts.append(text("failed.next", lang))
        out[f"result.{outcome.value}"] = _say(*parts)
    assert all(_KEY.match(k) for k in out)
    return out


def is_prompt(lang: str, key: str) -> bool:
    """True for a language and key the page may ask for."""
    return lang in LANGS and key in _ALL[lang]


def _digest(lang: str, spoken: str) -> str:
    return hashlib.sha256(f"{_VOICES[lang]}|{_SPEED}|{spoken}".encode()).hexdigest()[:16]


async def ensure(folder: Path, espeak: str | None = None) -> int:
    """Make every missing or outdated prompt in `folder`; the number made (VoiceError if not)."""
    espeak = espeak or shutil.which("espeak-ng")
    if espeak is None:
        raise VoiceError("espeak-ng is not installed (scripts/install-debian-packages.sh)")
    manifest_path = folder / _MANIFEST
    try:
        known = json.loads(manifest_path.read_text("utf-8"))
        if not isinstance(known, dict):
            known = {}
    except (OSError, ValueError):
        known = {}
    made = 0
    try:
        for lang in LANGS:
            (folder / lang).mkdir(parents=True, exist_ok=True)
            for key, spoken in _ALL[lang].items():
                name = f"{lang}/{key}.wav"
                digest = _digest(lang, spoken)
                if known.get(name) == digest and (folder / name).is_file():
                    continue
                await _speak(espeak, lang, spoken, folder / name)
                known[name] = digest
                made += 1
        if made:
            tmp = manifest_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(known, indent=1, sort_keys=True), "utf-8")
            os.replace(tmp, manifest_path)
    except OSError as err:
        raise VoiceError(f"cannot write the prompts in {folder}: {err.strerror}") from err
    return made


async def _speak(espeak: str, lang: str, spoken: str, target: Path) -> None:
    tmp = target.with_suffix(".tmp")
    try:
        proc = await _spawn(espeak, lang, spoken, tmp)
    except OSError as err:
        raise VoiceError(f"cannot run espeak-ng ({espeak}): {err.strerror}") from err
    try:
        _, said = await asyncio.wait_for(proc.communicate(), 30)
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if proc.returncode != 0:
        raise VoiceError(f"espeak-ng failed ({proc.returncode}): {said.decode(errors='replace')}")
    os.replace(tmp, target)


async def _spawn(espeak: str, lang: str, spoken: str, tmp: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        espeak,
        "-v",
        _VOICES[lang],
        "-s",
        str(_SPEED),
        "-w",
        str(tmp),
        "--",
        spoken,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


_ALL: Final = {lang: prompts(lang) for lang in LANGS}


def main(argv: list[str] | None = None) -> int:
    """Make the prompts into the folder named on the command line (the set-up's step)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m edge_agent.ui.voice FOLDER\n")
        return 2
    try:
        made = asyncio.run(ensure(Path(args[0])))
    except VoiceError as err:
        sys.stderr.write(f"error: {err}\n")
        return 1
    sys.stdout.write(f"{made} prompts made in {args[0]}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
