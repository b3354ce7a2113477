"""Poem generation: prompts, hard form constraints (Chinese and English), streaming."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from muse.errors import ConfigError, ConstraintError

from muse.sampling.constraints import Constraint
from muse.sampling.sampler import generate, stream_generate
from muse.poetry.corpora import PREFIX_SEP, prompt_prefix
from muse.tokenizers.scripts import is_cjk_ideograph
from muse.recipes.hub import LoadedModel, load_model

WORDS_FILE = "words.json"
"""The corpus vocabulary shipped with a poem model (English rhyme words come from it)."""
CHINESE_FORMS = ("wujue", "qijue", "wulv", "qilv")
DEFAULT_CHINESE_MODEL = "poem-tang"
DEFAULT_ENGLISH_MODEL = "poem-english"

@dataclass
class PoemRequest:
    """What to write. Unset fields mean 'no constraint'.

    ``form``, ``rhyme`` and ``tonal`` are for Chinese regulated verse;
    ``lines``, ``stanza``, ``rhyme_scheme``, ``meter`` and ``feet`` for English
    poems; ``acrostic`` for both. Every constraint is hard: each poem
    :func:`muse.write_poems` returns obeys it (check with
    :func:`muse.check_chinese_form` or :func:`muse.check_english_form`). English
    requests need a character-level model (the shipped ``poem-english``).

    Example:
        >>> import muse
        >>> req = muse.PoemRequest(form="qijue", acrostic="春江花月", rhyme=True)
        >>> poem = muse.write_poems(request=req, seed=0)[0]
        >>> muse.check_chinese_form(poem, "qijue", acrostic="春江花月", rhyme=True)
        []
        >>> quatrain = muse.write_poems(request=muse.PoemRequest(lines=4, rhyme_scheme="AABB"), seed=0)[0]
        >>> iambs = muse.PoemRequest(lines=4, rhyme_scheme="ABAB", meter="iambic", feet=4)
        >>> muse.check_english_form(muse.write_poems(request=iambs, seed=0)[0], lines=4, rhyme_scheme="ABAB",
        ...                         meter="iambic", feet=4)
        []
    """

    prompt: str = ""
    """Text the poem begins with (kept in the result; it must fit the form). Empty: start from nothing."""
    title: str | None = None
    """A title to condition on, as the corpus's title line (not part of the result). None: no title."""
    form: str | None = None
    """Chinese form: wujue (4 lines of 5 characters), qijue (4 x 7), wulv (8 x 5), qilv (8 x 7). None: free."""
    acrostic: str | None = None
    """Line i begins with the i-th character (Chinese: needs ``form``) or letter (English, either case)."""
    rhyme: bool = False
    """Chinese forms: lines 2, 4 (6, 8), and line 1 of 七言, end in one 平水韵 level-tone group, no rhyme
    character twice (``rhyme_system="modern"``: lines 2, 4 (6, 8) in one 中华新韵 group)."""
    tonal: bool = False
    """Chinese forms: every line follows a regulated 平仄 pattern by classical tones (一三五不论, no 孤平)."""
    rhyme_system: str = "pingshui"
    """Chinese forms: ``pingshui`` (classical rhymes and tones) or ``modern`` (中华新韵, Mandarin tones)."""
    first_line_rhyme: bool | None = None
    """Chinese forms with ``rhyme``: line 1 rhymes too. None: the usual (七言 yes, 五言 no)."""
    lines: int | None = None
    """English: number of lines (None: the acrostic's length, or unconstrained)."""
    stanza: int | None = None
    """English: a blank line after every ``stanza`` lines (None: no stanza breaks)."""
    rhyme_scheme: str | None = None
    """English: e.g. "AABB", "ABAB", "ABAB CDCD EFEF GG" ("-" = unrhymed line; a shorter scheme repeats with
    fresh rhymes) or a name: "sonnet", "petrarchan", "limerick", "couplets". Lines are then written one at a time
    and each rhyme word is one the model finds likely where it stands. None: no end rhymes."""
    meter: str | None = None
    """English: "iambic" makes every line iambic (CMU stresses; see :mod:`muse.poetry.meter`). None: free."""
    feet: int | None = None
    """English, with ``meter``: feet per line (None: 5, pentameter)."""

    @property
    def chinese(self) -> bool:
        """True when the request is for a Chinese poem (a form, ``tonal``, or Chinese text in it)."""
        text = (self.prompt or "") + (self.acrostic or "") + (self.title or "")
        return self.form is not None or self.tonal or any(is_cjk_ideograph(c) for c in text)

def default_model_for(req: PoemRequest) -> str:
    return DEFAULT_CHINESE_MODEL if req.chinese else DEFAULT_ENGLISH_MODEL

def build_constraints(tok, req: PoemRequest, words: list[str] | None = None,  # noqa: ANN001
                      control: str = "none") -> list[Constraint]:
    """Form constraints for the request; ConstraintError before generation when impossible.

    ``words`` (the model's corpus vocabulary, when it ships one) limits English rhyme words.
    ``control="form"`` (the model's ``data.control``): a free poem's form tag must be a known one.
    """
    if req.form is not None:
        from muse.poetry.forms import ChineseFormConstraint

        return [ChineseFormConstraint(tok, req.form, acrostic=req.acrostic, rhyme=req.rhyme, tonal=req.tonal,
                                      rhyme_system=req.rhyme_system, first_line_rhyme=req.first_line_rhyme)]
    if req.acrostic and any(is_cjk_ideograph(c) for c in req.acrostic):
        raise ConfigError("a Chinese acrostic needs a form: add --form wujue|qijue|wulv|qilv")
    if req.tonal or (req.rhyme and req.chinese):
        raise ConfigError("--rhyme/--tonal for Chinese poems need a form: add --form wujue|qijue|wulv|qilv")
    if req.lines is not None or req.stanza is not None or req.rhyme_scheme or req.acrostic:
        from muse.poetry.english import EnglishFormConstraint, english_tokenizer_check

        english_tokenizer_check(tok, req)

        kw = dict(lines=req.lines, stanza=req.stanza, rhyme_scheme=req.rhyme_scheme, acrostic=req.acrostic)
        if words:
            try:
                return [EnglishFormConstraint(tok, words=words, **kw)]
            except ConstraintError:
                pass  # the corpus vocabulary is too small to rhyme: use the whole pronouncing dictionary
        return [EnglishFormConstraint(tok, **kw)]
    if control == "form":
        from muse.poetry.forms import FormTagConstraint

        return [FormTagConstraint(tok)]
    return []

def _prompt_ids(tok, req: PoemRequest, data: dict | None = None) -> list[int]:  # noqa: ANN001
    """BOS, the conditioning prefix (title; the form's tag for ``data.control=form`` models), the prompt."""
    text = req.prompt or ""
    control = (data or {}).get("control", "none")
    if control == "form" and req.form is not None:
        from muse.poetry.forms import form_control_tag

        text = prompt_prefix(req.title, None, form_control_tag(req.form)) + text
    elif control == "form" and not text:  # a free poem: the model writes the form's tag (after any title) itself
        text = "" if req.title is None else prompt_prefix(req.title, None).removesuffix(PREFIX_SEP)
    elif req.title is not None or (control == "form" and text):
        text = prompt_prefix(req.title, None) + text
    ids = [tok.bos_id]
    if text:
        missing = sorted({c for c in text if hasattr(tok, "id_of") and tok.id_of(c) is None})
        if missing and getattr(tok, "unknown", "replace") != "skip" and tok.kind == "char":
            raise ConstraintError(f"prompt characters not in the model's vocabulary: {''.join(missing)!r}")
        ids += tok.encode(text)
    return ids

def _decode(tok, ids: list[int]) -> str:  # noqa: ANN001
    from muse.poetry.corpora import split_prefix

    return split_prefix(tok.decode(ids[1:]))[2].strip("\n")

def _load(model: str | Path | LoadedModel | None, req: PoemRequest, device: str) -> LoadedModel:
    lm = model if isinstance(model, LoadedModel) else load_model(model or default_model_for(req), device=device,
                                                                 expect_kind="poem")
    if lm.tokenizer is None:
        raise ConfigError("this model has no tokenizer; use a model trained with `muse train poem`")
    if req.title is not None and not (lm.meta.get("data") or {}).get("with_title"):
        raise ConfigError("this model was not trained with titles, so a title would be read as the poem's first "
                          "line: leave it out, or train with data.with_title=true")
    return lm

def write_poems(
    model: str | Path | LoadedModel | None = None,
    request: PoemRequest | None = None,
    *,
    num: int = 1,
    temperature: float | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float | None = None,
    beam_size: int | None = None,
    max_tokens: int | None = None,
    seed: int | None = None,
    device: str = "cpu",
) -> list[str]:
    """Write ``num`` poems with a poem model; the request's form constraints are hard.

    Every poem returned obeys them (ConstraintError when ``max_tokens`` is too
    few to finish the form).

    Sampling settings left as None come from the model's ``generation_config.json``.

    Args:
        model: a shipped model name (``"poem-tang"``, ``"poem-english"``), a model
            or run directory, a checkpoint, or a loaded model
            (:func:`muse.load_model`). None: ``"poem-tang"`` for Chinese requests,
            ``"poem-english"`` otherwise.
        request: what to write (form, acrostic, rhyme, prompt...); None: a free
            poem with no constraint.
        num: how many poems (>= 1).
        temperature: sampling temperature (> 0; lower is more conservative).
        top_k: sample among the ``top_k`` most likely characters only.
        top_p: nucleus sampling threshold in (0, 1].
        repetition_penalty: > 1 discourages characters already written.
        beam_size: beams; 1 samples, > 1 runs beam search (deterministic for a
            given model and request); English rhyme schemes and metre sample only.
        max_tokens: most characters (tokens) to write per poem; None: as many as
            the request needs (a form sizes its own budget). Too few for the form:
            ConstraintError.
        seed: random seed; the same seed, model and request give the same poems.
            None: a different result each call.
        device: where the model runs (``"cpu"``, ``"cuda"``...).

    Returns:
        list[str]: ``num`` poems, each its lines joined with ``"\\n"`` (Chinese:
        one half-line per line, punctuation kept), without the title/author prefix.

    Example:
        >>> import muse
        >>> poems = muse.write_poems("poem-tang", muse.PoemRequest(form="wujue", tonal=True), num=2, seed=1)
        >>> len(poems[0].split("\\n"))
        4
        >>> english = muse.write_poems(request=muse.PoemRequest(acrostic="MUSE"), temperature=0.7, seed=0)
    """
    req = request or PoemRequest()
    if num < 1:
        raise ConfigError(f"the number of poems must be at least 1, got {num}")
    lm = _load(model, req, device)
    tok = lm.tokenizer
    base = lm.generation_config.updated(temperature=temperature, top_k=top_k, top_p=top_p,
                                        repetition_penalty=repetition_penalty, num_beams=beam_size,
                                        max_new_tokens=max_tokens)
    if line_by_line(req):
        if base.num_beams > 1:
            raise ConfigError("rhymed or metred English poems are written line by line by sampling; "
                              "drop --num-beams (beam_size)")
        return [_decode(tok, p) for p in (_write_lines(lm, req, base, seed if seed is None else seed + k, device,
                                                       max_tokens) for k in range(num))]
    constraints = build_constraints(tok, req, words_of(lm), (lm.meta.get("data") or {}).get("control", "none"))
    if max_tokens is None:  # the budget follows the request: a form never runs out of tokens
        bounds = [b for c in constraints if (b := c.max_tokens()) is not None]
        base = replace(base, max_new_tokens=max([base.max_new_tokens, *bounds]))
    max_tokens = base.max_new_tokens
    prompt = _prompt_ids(tok, req, lm.meta.get("data"))
    if len(prompt) > 1 and constraints:
        # the prompt must itself obey the form so far (the title prefix is not part of the form)
        first = prompt.index(tok.sep_id) + 1 if getattr(tok, "sep_id", None) in prompt else 1
        for c in constraints:
            for i in range(max(1, first), len(prompt)):
                m = c.allowed(prompt[:i])
                if m is not None and not bool(m[prompt[i]]):
                    raise ConstraintError(f"the prompt breaks the requested form at {tok.decode(prompt[1:i + 1])!r}")
    beams = base.num_beams
    cfg = replace(base, do_sample=beams == 1, num_return_sequences=num if beams == 1 else min(num, beams),
                  eos_id=tok.eos_id, seed=seed)
    poems: list[str] = []
    while len(poems) < num:
        seqs = generate(lm.model, prompt, cfg, constraints, device=device)
        if any(_cut_off_early(constraints, s, len(prompt), max_tokens, tok.eos_id) for s in seqs):
            raise _cut_off(max_tokens)
        poems += [_decode(tok, s) for s in seqs]
        cfg = replace(cfg, seed=None if seed is None else seed + len(poems))
    return poems[:num]

def stream_poem(
    model: str | Path | LoadedModel | None = None,
    request: PoemRequest | None = None,
    *,
    temperature: float | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float | None = None,
    max_tokens: int | None = None,
    seed: int | None = None,
    device: str = "cpu",
) -> Iterator[str]:
    """Yield the poem's text piece by piece as it is written (settings as :func:`write_poems`)."""
    req = request or PoemRequest()
    lm = _load(model, req, device)
    tok = lm.tokenizer
    if line_by_line(req):
        cfg = lm.generation_config.updated(temperature=temperature, top_k=top_k, top_p=top_p)
        yield from _stream_lines(lm, req, cfg, seed, device, max_tokens)
        return
    constraints = build_constraints(tok, req, words_of(lm), (lm.meta.get("data") or {}).get("control", "none"))
    prompt = _prompt_ids(tok, req, lm.meta.get("data"))
    cfg = replace(lm.generation_config.updated(temperature=temperature, top_k=top_k, top_p=top_p,
                                               repetition_penalty=repetition_penalty, max_new_tokens=max_tokens),
                  num_beams=1, do_sample=True, eos_id=tok.eos_id, seed=seed)
    if max_tokens is None:
        bounds = [b for c in constraints if (b := c.max_tokens()) is not None]
        cfg = replace(cfg, max_new_tokens=max([cfg.max_new_tokens, *bounds]))
    max_tokens = cfg.max_new_tokens
    ids = list(prompt)
    shown = _decode(tok, ids)
    yield shown
    for t in stream_generate(lm.model, prompt, cfg, constraints, device=device):
        ids.append(t)
        text = _decode(tok, ids)
        if text.startswith(shown) and len(text) > len(shown):
            yield text[len(shown):]
            shown = text
    if _cut_off_early(constraints, ids, len(prompt), max_tokens, tok.eos_id):
        raise _cut_off(max_tokens)

def line_by_line(req: PoemRequest) -> bool:
    """True for English requests written a line at a time (:class:`muse.poetry.english.EnglishPoet`): rhymes or metre."""
    if req.meter is None and req.feet is not None:
        raise ConfigError("--feet counts the feet of a metre: add --meter iambic")
    if req.meter is not None and req.chinese:
        raise ConfigError("--meter is for English poems; Chinese forms have --tonal")
    return not req.chinese and (bool(req.rhyme_scheme) or req.meter is not None)

def _poet_lines(lm: LoadedModel, req: PoemRequest, cfg, seed: int | None, device: str,  # noqa: ANN001
                max_tokens: int | None):
    from muse.poetry.english import EnglishPoet, english_tokenizer_check, seeded_generator

    tok = lm.tokenizer
    english_tokenizer_check(tok, req)
    poet = EnglishPoet(lm.model, tok, lines=req.lines, stanza=req.stanza, rhyme_scheme=req.rhyme_scheme,
                       acrostic=req.acrostic, meter=req.meter, feet=req.feet, words=words_of(lm))
    prompt = _prompt_ids(tok, req, lm.meta.get("data"))
    dev = next(lm.model.parameters()).device
    lm.model.eval()
    lines = poet.write(prompt, temperature=cfg.temperature, top_k=cfg.top_k, top_p=cfg.top_p,
                       generator=seeded_generator(seed, dev), device=dev, max_tokens=max_tokens)
    return prompt, lines

def _write_lines(lm: LoadedModel, req: PoemRequest, cfg, seed: int | None, device: str,  # noqa: ANN001
                 max_tokens: int | None) -> list[int]:
    prompt, lines = _poet_lines(lm, req, cfg, seed, device, max_tokens)
    return prompt + [t for line in lines for t in line]

def _stream_lines(lm: LoadedModel, req: PoemRequest, cfg, seed: int | None, device: str,  # noqa: ANN001
                  max_tokens: int | None) -> Iterator[str]:
    prompt, lines = _poet_lines(lm, req, cfg, seed, device, max_tokens)
    ids = list(prompt)
    shown = _decode(lm.tokenizer, ids)
    yield shown
    for line in lines:
        ids += line
        text = _decode(lm.tokenizer, ids)
        yield text[len(shown):]
        shown = text

def words_of(lm: LoadedModel) -> list[str] | None:
    """The corpus vocabulary a poem model ships (``words.json``), for English rhyme words."""
    return lm.files.get(WORDS_FILE)

def _cut_off_early(constraints: list[Constraint], seq: list[int], n_prompt: int, max_tokens: int, eos: int) -> bool:
    """True when ``seq`` hit the token limit at a point where the form may not end yet."""
    if not constraints or len(seq) - n_prompt < max_tokens:
        return False  # no form, or it stopped at EOS
    return any((m := c.allowed(seq)) is not None and not bool(m[eos]) for c in constraints)

def _cut_off(max_tokens: int) -> ConstraintError:
    """A form poem that hit the token limit before its end would break the form: refuse it."""
    return ConstraintError(f"max_tokens={max_tokens} ran out before the poem's form was complete; "
                           "allow more (--max-tokens)")
