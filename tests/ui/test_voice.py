"""The spoken prompts: fixed texts made once with Debian's espeak-ng, served by key only."""

from __future__ import annotations

import shutil
from pathlib import Path

import aiohttp
import pytest

from edge_agent.ui import voice
from edge_agent.ui.server import UiServer
from protocol.outcomes import Outcome
from simulators.personas import PERSONAS
from tests.ui.harness import VOICE

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is missing: install it (scripts/install-debian-packages.sh)",
)


def test_every_prompt_is_a_fixed_text_without_personal_data() -> None:
    personal = {
        value
        for p in PERSONAS.values()
        for value in (p.nik, p.full_name, p.birth_place, p.address, p.kk_number)
    }
    for lang in voice.LANGS:
        prompts = voice.prompts(lang)
        assert {f"result.{o.value}" for o in Outcome} <= set(prompts)
        for key, spoken in prompts.items():
            assert spoken and not any(v in spoken for v in personal), key
    assert voice.prompts("id")["idle"] == "Masukkan KTP-el Anda ke pembaca kartu."
    assert "service desk" in voice.prompts("en")["result.FINGER_MISMATCH"]


async def test_prompts_are_made_once_and_again_when_missing(tmp_path: Path) -> None:
    made = await voice.ensure(tmp_path)
    count = sum(len(voice.prompts(lang)) for lang in voice.LANGS)
    assert made == count
    wav = (tmp_path / "id" / "idle.wav").read_bytes()
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE" and len(wav) > 10_000
    assert await voice.ensure(tmp_path) == 0  # nothing to do the second time
    (tmp_path / "en" / "reading.wav").unlink()
    assert await voice.ensure(tmp_path) == 1


async def test_no_espeak_means_no_voice(tmp_path: Path) -> None:
    with pytest.raises(voice.VoiceError, match="espeak-ng"):
        await voice.ensure(tmp_path, espeak=str(tmp_path / "missing"))
    (tmp_path / "a-file").write_text("")
    ui = UiServer("127.0.0.1", 0, voice_dir=tmp_path / "a-file" / "voice")
    await ui.start()
    try:
        assert await ui.wait_voice() is False
    finally:
        await ui.stop()


async def test_the_server_answers_only_for_known_prompts() -> None:
    ui = UiServer("127.0.0.1", 0, voice_dir=VOICE)
    await ui.start()
    try:
        assert await ui.wait_voice()
        async with aiohttp.ClientSession() as http:
            async with http.get(ui.url + "voice/id/result.FOUND.wav") as resp:
                assert resp.status == 200
                assert resp.content_type == "audio/wav"
                assert (await resp.read())[:4] == b"RIFF"
            for path in ("voice/id/unknown.wav", "voice/fr/idle.wav", "voice/id/..%2Fidle.wav"):
                async with http.get(ui.url + path) as resp:
                    assert resp.status == 404, path
    finally:
        await ui.stop()
