"""The chorale model measured: held-out NLL, generated chorales and harmonized sopranos against Bach.

    python bench/chorale_model.py [--model chorale-transformer] [--num 24] [--bars 12] [--limit N]

1. **Held-out NLL** of the test (and valid) chorales of the model's own split
   (``split_of(piece_id, 0.05, 0.05)`` of the corpus path, e.g. ``bach/bwv10.7.mxl``), each
   moved to C major / A minor as in training and encoded as in training: muse's REMI score
   tokens (16th grid; per onset ``Position``, then per note ``Track Pitch Duration``, parts
   S, A, T, B at each onset). Reported in nats per token, bits per token and nats per note,
   EOS counted, the header (programs, meter, key) given; beside it an interpolated Kneser-Ney
   n-gram fitted on the training chorales with the same tokens (order 3-7 and discount chosen
   on the valid split). This is *not* Music Transformer's
   unit (0.335 nats per event of JSB Chorales' 16th-grid interleaved voices, another
   encoding and another split), so the two are not compared.
2. **Generated chorales**: ``--num`` chorales of ``--bars`` bars (seeds 0..num-1).
3. **Harmonizations** of every held-out soprano (test + valid) by ``muse.harmonize`` logic,
   written as ``bwvX.mid`` so that ``bench/chorale_voice_leading.py --harmonized`` compares
   them with Bach's own alto, tenor and bass.

Then ``bench/chorale_voice_leading.py --generated G --harmonized H`` prints voice-leading
statistics of both beside Bach's held-out chorales. Results: bench/results/chorale_model.json.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, document_bits, environment  # noqa: E402

import muse  # noqa: E402
from muse.data.store import split_of  # noqa: E402
from muse.music.corpora import iter_corpus_scores  # noqa: E402
from muse.music.score_compose import ScoreRequest, compose_scores, harmonize, save_scores  # noqa: E402
from muse.models.ngram import KneserNeyLM  # noqa: E402
from muse.music.score import home_shift  # noqa: E402
from muse.music.score_recipe import satb_only  # noqa: E402
from muse.recipes.hub import load_model  # noqa: E402


def held_out(limit: int | None) -> dict[str, list[tuple[str, muse.Score]]]:
    out: dict[str, list] = {"test": [], "valid": [], "train": []}
    for pid, score in iter_corpus_scores("bach", progress=False, limit=limit):
        four = satb_only(score)
        split = split_of(pid, 0.05, 0.05)
        if four is not None and split in out:
            out[split].append((pid, four))
    return out


def encode(tok, pieces) -> tuple[list[tuple[list[int], int]], int]:  # noqa: ANN001
    """``(ids, body start)`` of each piece in C major / A minor, as training encodes it, and the note count."""
    docs, notes = [], 0
    for _, s in pieces:
        moved = s.transpose(home_shift(s))
        docs.append(([tok.bos_id, *tok.encode_score(moved), tok.eos_id], 1 + len(tok.header_tokens(moved))))
        notes += moved.num_notes
    return docs, notes


def ngram_body_nats(kn: KneserNeyLM, docs) -> float:  # noqa: ANN001
    """Total nats of the body tokens (and EOS) given the header: whole documents minus their header part."""
    full = kn.evaluate([d for d, _ in docs])
    head = kn.evaluate([d[:start] for d, start in docs])
    return full["nats"] * full["ntokens"] - head["nats"] * head["ntokens"]


def fit_ngram(tok, train, valid) -> tuple[KneserNeyLM, dict]:  # noqa: ANN001
    """Interpolated Kneser-Ney on the training chorales; order and discount chosen on the valid split."""
    train_docs = [d for d, _ in encode(tok, train)[0]]
    valid_docs = encode(tok, valid)[0]
    best = None
    for order in (3, 4, 5, 6, 7):  # 443 ** 7 still fits the n-gram's int64 keys
        for discount in (0.75, 0.9):
            kn = KneserNeyLM(order, discount).fit(train_docs, tok.vocab_size)
            nats = ngram_body_nats(kn, valid_docs)
            if best is None or nats < best[0]:
                best = (nats, kn, {"order": order, "discount": discount})
    return best[1], best[2]


def nll(lm, pieces, kn: KneserNeyLM | None = None) -> dict[str, float]:  # noqa: ANN001
    tok = lm.tokenizer
    docs, notes = encode(tok, pieces)
    tokens = sum(len(d) - s for d, s in docs)
    bits = document_bits(lm.model, docs, tok.pad_id)
    nats = bits * math.log(2)
    out = {"pieces": len(docs), "tokens": tokens, "notes": notes, "nats_per_token": nats / tokens,
           "bits_per_token": bits / tokens, "nats_per_note": nats / notes}
    if kn is not None:
        kn_nats = ngram_body_nats(kn, docs)
        out.update(ngram_nats_per_token=kn_nats / tokens, ngram_nats_per_note=kn_nats / notes,
                   gain_vs_ngram=1 - nats / kn_nats)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="chorale-transformer")
    ap.add_argument("--num", type=int, default=24)
    ap.add_argument("--bars", type=int, default=12)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--no-rules", action="store_true", help="decode without the four-part rules")
    ap.add_argument("--work", default="/tmp/muse-chorale-bench")
    ap.add_argument("--out", default=str(RESULTS / "chorale_model.json"))
    args = ap.parse_args()
    lm = load_model(args.model)
    work = Path(args.work)
    gen_dir, harm_dir = work / "generated", work / "harmonized"
    result: dict = {"model": args.model, "rules": not args.no_rules, "environment": environment()}
    sets = held_out(args.limit)
    kn, kn_choice = fit_ngram(lm.tokenizer, sets["train"], sets["valid"])
    result["ngram"] = kn_choice
    result["nll"] = {split: nll(lm, sets[split], kn) for split in ("test", "valid")}
    print(json.dumps(result["nll"], indent=1))
    t = time.perf_counter()
    scores = [compose_scores(lm, ScoreRequest(bars=args.bars, rules=not args.no_rules), muse.GenerationConfig(seed=i))[0]
              for i in range(args.num)]
    result["generate_seconds_per_chorale"] = (time.perf_counter() - t) / max(1, args.num)
    save_scores(scores, gen_dir, prefix="chorale", wav=False, png=False, xml=False)
    t = time.perf_counter()
    kept = 0
    from muse.music.score_io import write_score_midi

    harm_dir.mkdir(parents=True, exist_ok=True)
    pieces = sets["test"] + sets["valid"]
    for i, (pid, s) in enumerate(pieces):
        soprano = s.part_melody(0)
        (h,) = harmonize(lm, soprano, generation=muse.GenerationConfig(seed=i), rules=not args.no_rules)
        kept += h.parts[0].notes == soprano.notes
        write_score_midi(h, harm_dir / (Path(pid).stem + ".mid"))
    result["harmonize_seconds_per_chorale"] = (time.perf_counter() - t) / max(1, len(pieces))
    result["soprano_kept_exactly"] = f"{kept}/{len(pieces)}"
    print(f"soprano kept exactly: {kept}/{len(pieces)}; "
          f"{result['generate_seconds_per_chorale']:.1f} s per generated chorale, "
          f"{result['harmonize_seconds_per_chorale']:.1f} s per harmonization")
    vl_out = work / "voice_leading.json"
    cmd = [sys.executable, str(Path(__file__).with_name("chorale_voice_leading.py")), "--generated", str(gen_dir),
           "--harmonized", str(harm_dir), "--out", str(vl_out)]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    subprocess.run(cmd, check=True)
    result["voice_leading"] = json.loads(vl_out.read_text())
    Path(args.out).write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
