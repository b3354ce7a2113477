import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from muse.errors import CheckpointError, DataError
from muse.tokenizers.base import tokenizer_from_dict, tokenizer_to_dict
from muse.tokenizers.char import SEP_CHAR, UNK_TEXT, CharTokenizer
from muse.tokenizers.spm import SentencePieceTokenizer, auto_character_coverage

ALPHABET = "abcXYZ 春眠不觉晓，。\n\t🙂é" + SEP_CHAR


@pytest.fixture(scope="module")
def char_tok() -> CharTokenizer:
    return CharTokenizer.train([ALPHABET, "aab"])


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=60))
def test_char_round_trip_is_exact(text):
    tok = CharTokenizer.train([ALPHABET])
    ids = tok.encode(text)
    assert len(ids) == len(text)
    assert tok.decode(ids) == text
    assert all(0 <= i < tok.vocab_size for i in ids)


def test_char_specials_and_ids(char_tok):
    assert (char_tok.pad_id, char_tok.bos_id, char_tok.eos_id, char_tok.unk_id, char_tok.sep_id) == (0, 1, 2, 3, 4)
    assert char_tok.encode(SEP_CHAR) == [char_tok.sep_id]
    assert char_tok.id_of(SEP_CHAR) == char_tok.sep_id
    # most frequent character ("a": 3 times) gets the first ordinary id
    assert char_tok.id_of("a") == 5
    assert char_tok.id_of("龘") is None
    assert char_tok.id_to_token(char_tok.id_of("春")) == "春"
    assert char_tok.id_to_token(1) == "<bos>"
    ids = char_tok.encode("春眠")
    assert char_tok.decode([char_tok.bos_id, *ids, char_tok.eos_id, char_tok.pad_id]) == "春眠"
    with pytest.raises(DataError, match="outside"):
        char_tok.decode([char_tok.vocab_size])


def test_char_unknown_policies():
    texts = ["hello"]
    rep = CharTokenizer.train(texts)
    ids = rep.encode("hex!")
    assert ids[2] == rep.unk_id and ids[3] == rep.unk_id
    assert rep.decode(ids) == "he" + UNK_TEXT * 2
    assert CharTokenizer.train(texts, unknown="skip").encode("hex!") == rep.encode("he")
    strict = CharTokenizer.train(texts, unknown="error")
    with pytest.raises(DataError, match=r"'x' '!'|'!' 'x'"):
        strict.encode("hex!")
    with pytest.raises(DataError, match="policy"):
        CharTokenizer.train(texts, unknown="ignore")


def test_char_min_freq_and_max_vocab():
    tok = CharTokenizer.train(["aaabbc"], min_freq=2)
    assert tok.chars == ("a", "b")
    tok = CharTokenizer.train(["aaabbc"], max_vocab=6)
    assert tok.vocab_size == 6 and tok.chars == ("a",)
    with pytest.raises(DataError):
        CharTokenizer.train([""])


def test_char_serialisation_round_trip(char_tok):
    d = json.loads(json.dumps(tokenizer_to_dict(char_tok), ensure_ascii=False))
    back = tokenizer_from_dict(d)
    assert isinstance(back, CharTokenizer)
    assert back.chars == char_tok.chars and back.unknown == char_tok.unknown
    assert back.fingerprint() == char_tok.fingerprint()
    with pytest.raises(CheckpointError):
        tokenizer_from_dict({"kind": "char", "chars": "aa"})
    with pytest.raises(CheckpointError):
        tokenizer_from_dict({"kind": "char"})


SPM_TEXTS = [
    "The quick brown fox jumps over the lazy dog.\nIt ran  away, far away!",
    "床前明月光，\n疑是地上霜。\n举头望明月，\n低头思故乡。",
    "春眠不觉晓，\n处处闻啼鸟。",
    "  indented line\n\ttabbed line\n",
] * 30

ROUND_TRIP = [
    "The lazy dog jumps.",
    "床前明月光，\n疑是地上霜。",
    "  two leading spaces and trailing  ",
    "blank\n\n\nlines\n",
    "emoji 🙂🌙 and accents: café, naïve",
    "unseen 龘 character and ▁ sentencepiece's own space mark",
    "title\nauthor\n" + SEP_CHAR + "春眠不觉晓，",
    "\r\n windows line end",
    "",
]


@pytest.fixture(scope="module", params=["unigram", "bpe"])
def spm_tok(request) -> SentencePieceTokenizer:
    return SentencePieceTokenizer.train(SPM_TEXTS, vocab_size=400, model_type=request.param)


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_spm_round_trip_is_exact(spm_tok, text):
    ids = spm_tok.encode(text)
    assert spm_tok.decode(ids) == text
    assert spm_tok.decode([spm_tok.bos_id, *ids, spm_tok.eos_id, spm_tok.pad_id]) == text


def test_spm_specials_newline_and_separator(spm_tok):
    assert [spm_tok.id_to_token(i) for i in range(4)] == ["<pad>", "<s>", "</s>", "<unk>"]
    assert (spm_tok.pad_id, spm_tok.bos_id, spm_tok.eos_id, spm_tok.unk_id) == (0, 1, 2, 3)
    assert spm_tok.encode("\n") == [spm_tok.encode("a\nb")[1]]
    assert spm_tok.id_to_token(spm_tok.encode("\n")[0]) == "\n"
    assert spm_tok.encode(SEP_CHAR) == [spm_tok.sep_id]
    assert "，" in "".join(spm_tok.id_to_token(i) for i in spm_tok.encode("明月光，"))
    # learnt pieces: a frequent word costs fewer ids than its characters
    assert len(spm_tok.encode("明月光")) < 3


def test_spm_serialisation_round_trip(spm_tok):
    d = json.loads(json.dumps(tokenizer_to_dict(spm_tok)))
    back = tokenizer_from_dict(d)
    assert isinstance(back, SentencePieceTokenizer)
    for text in ROUND_TRIP:
        assert back.encode(text) == spm_tok.encode(text)
    assert back.fingerprint() == spm_tok.fingerprint()
    with pytest.raises(CheckpointError, match="base64"):
        tokenizer_from_dict({"kind": "sentencepiece", "model": "not base64!"})
    with pytest.raises(CheckpointError, match="invalid sentencepiece model"):
        tokenizer_from_dict({"kind": "sentencepiece", "model": "AAAA"})


def test_spm_bad_training_input():
    with pytest.raises(DataError, match="vocab_size=50"):
        SentencePieceTokenizer.train(SPM_TEXTS, vocab_size=50)
    with pytest.raises(DataError, match="empty"):
        SentencePieceTokenizer.train(["", ""])
    with pytest.raises(DataError, match="model_type"):
        SentencePieceTokenizer.train(SPM_TEXTS, model_type="word")


def test_character_coverage_defaults_by_script():
    assert auto_character_coverage(["床前明月光，疑是地上霜。"]) == 0.9995
    assert auto_character_coverage(["moonlight before my bed"]) == 1.0
    assert auto_character_coverage(["月 moonlight"]) == 1.0
