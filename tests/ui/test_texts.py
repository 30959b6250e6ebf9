"""The citizen's texts: both languages everywhere, one family per outcome, consistent wording."""

from __future__ import annotations

import json
import re

from edge_agent.session.screens import OutcomeFamily, Screen, ScreenName, TryProblem, family_of
from edge_agent.ui import texts
from protocol.elements import DataElement
from protocol.outcomes import Lang, Outcome


def test_every_text_in_both_languages_and_every_element_labelled() -> None:
    for key, (text_id, text_en) in texts.PAGE.items():
        assert text_id and text_en, key
        assert text_id.count("{n}") == text_en.count("{n}"), key
    assert set(texts.ELEMENT_LABELS) == set(DataElement)
    doc = json.loads(texts.page_json())
    assert doc["id"]["idle.title"] == "Masukkan KTP-el Anda ke pembaca kartu"
    assert "<" not in texts.page_json()  # safe inside the page's <script> block


def test_every_outcome_has_a_family() -> None:
    families = {family_of(o) for o in Outcome}
    assert families == set(OutcomeFamily)
    assert family_of(Outcome.FOUND) is OutcomeFamily.FOUND
    for caveat in (Outcome.FOUND_DECEASED, Outcome.FOUND_DUPLICATE, Outcome.FOUND_INACTIVE):
        assert family_of(caveat) is OutcomeFamily.CAVEAT  # never the plain green tick
    for outcome in Outcome:  # data comes back only with found and found-with-a-caveat
        found = family_of(outcome) in (OutcomeFamily.FOUND, OutcomeFamily.CAVEAT)
        assert found is outcome.info.data_returned, outcome


def test_wording_is_consistent() -> None:
    idle = texts.text("idle.title")
    assert "Masukkan" in idle
    for outcome in Outcome:
        for lang in Lang:
            hint = outcome.hint(lang)
            assert "tempelkan" not in hint.lower(), outcome  # the card is inserted, not tapped
            said = f"{outcome.text(lang)} {hint}".lower()
            assert said.count("hubungi") <= 1, outcome  # never told whom to contact twice
            assert said.count("contact") <= 1, outcome
    assert "siap untuk warga berikutnya" not in texts.text("idle.take_hint")
    assert "kaca sensor" in texts.text("finger.poor_image")
    notice = " ".join(texts.text(k) for k in ("notice.read", "notice.kept", "notice.basis"))
    assert re.search(r"PKS", notice) and "UU No. 27 Tahun 2022" in notice


def test_messages_carry_the_family_the_countdown_and_the_last_problem() -> None:
    msg = Screen(ScreenName.NOTICE, seconds=30).to_message()
    assert msg == {"screen": "notice", "seconds": 30}
    result = Screen(
        ScreenName.RESULT, outcome=Outcome.FINGER_MISMATCH, seconds=8, problem=TryProblem.POOR_IMAGE
    ).to_message()
    assert result["family"] == "refused" and result["problem"] == "poor_image"
    assert result["seconds"] == 8
    assert "seconds" not in Screen(ScreenName.IDLE).to_message()
