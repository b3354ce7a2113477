"""The melody length and lead-in rules, on the token level (no model needed)."""
from __future__ import annotations

import torch

from muse.music.constraints import MelodyConstraint
from muse.music.events import MelodyEventTokenizer

TOK = MelodyEventTokenizer()
HOLD, OFF, C4 = TOK.hold_id, TOK.off_id, TOK.note_on_id(60)


def _notes_only(mask: torch.Tensor) -> bool:
    return all(TOK.pitch_of(i) is not None for i in torch.nonzero(mask).flatten().tolist())


def test_start_on_a_note_when_the_lead_in_is_zero():
    c = MelodyConstraint(TOK, None, 32, 16, max_lead_in=0)
    assert _notes_only(c.allowed([TOK.bos_id]))
    assert bool(c.allowed([TOK.bos_id, C4])[HOLD])


def test_default_lead_in_allows_a_pickup_of_two_bars_then_forces_a_note():
    c = MelodyConstraint(TOK, None, 128, 16)
    assert c.max_lead_in == 32
    rests = [TOK.bos_id] + [HOLD] * 31
    assert bool(c.allowed(rests)[HOLD])  # 31 steps of rest: one more is still allowed
    assert _notes_only(c.allowed(rests + [HOLD]))  # after 32 the next step is a note
    assert bool(c.allowed([TOK.bos_id] + [HOLD] * 12 + [C4] + [OFF] + [HOLD] * 17)[HOLD])  # a note came: free


def test_a_short_melody_is_never_silent_and_ends_on_time():
    c = MelodyConstraint(TOK, None, 16, 16)
    assert c.max_lead_in == 0
    two = MelodyConstraint(TOK, None, 32, 16)
    assert two.max_lead_in == 16
    full = [TOK.bos_id, C4] + [HOLD] * 31
    only = c.allowed(full)
    assert only.sum() == 1 and bool(only[TOK.eos_id])



def test_the_cadence_rule_forces_the_tonic_on_the_last_strong_beat_then_holds_it():
    rule = MelodyConstraint(TOK, None, 64, 16, final_steps=[48, 56], tonic_pc=0)
    body = [C4] + [HOLD] * 47
    assert rule.allowed([TOK.bos_id, *body]).sum() > 1  # the downbeat of the last bar: free
    d4 = TOK.note_on_id(62)
    late = [TOK.bos_id, *body, d4] + [HOLD] * 7  # step 56, the last strong beat: a C, any octave
    allowed = rule.allowed(late).nonzero().flatten().tolist()
    assert allowed and all(TOK.pitch_of(i) % 12 == 0 for i in allowed)
    early = [TOK.bos_id, *body, TOK.note_on_id(72), HOLD]  # a C on the downbeat is the final note: held
    assert rule.allowed(early).nonzero().flatten().tolist() == [HOLD]
    assert rule.allowed([TOK.bos_id, *body, TOK.note_on_id(72)] + [HOLD] * 15).nonzero().flatten().tolist() \
        == [TOK.eos_id]
    free = MelodyConstraint(TOK, None, 64, 16)  # no cadence: anything at step 56
    assert free.allowed(late).sum() > len(allowed)
