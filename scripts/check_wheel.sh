#!/usr/bin/env bash
# Build the wheel, install it into a fresh venv outside the repository, and check that every
# shipped corpus trains offline from the installed package alone (no checkout, no ../shared).
#   Dependencies come from .venv (linked, not copied), so the check installs nothing from the network.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
.venv/bin/python -m pip wheel -q --no-deps --no-build-isolation -w "$WORK/dist" . >/dev/null
WHEEL=$(ls "$WORK"/dist/muse-*.whl)
echo "wheel: $(basename "$WHEEL") $(du -h "$WHEEL" | cut -f1)"
python3 -m venv "$WORK/venv"
SITE=$("$WORK/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
DEPS=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$DEPS" > "$SITE/_muse_deps.pth"  # the dependencies of .venv, after the wheel's own muse
"$WORK/venv/bin/python" -m pip install -q --no-deps --no-index "$WHEEL" >/dev/null
cd "$WORK"  # nothing of the checkout is importable from here
export MUSE_CACHE="$WORK/cache"
MUSE="$WORK/venv/bin/muse"
"$WORK/venv/bin/python" -c "import muse, sys; p = muse.__file__; sys.exit(0 if p.startswith('$WORK') else f'muse imported from {p}')"
"$MUSE" corpora list | tee "$WORK/list.txt"
for name in tang shakespeare english-poetry nottingham; do
  grep -q "^$name " "$WORK/list.txt" || { echo "check_wheel: $name missing from muse corpora list" >&2; exit 1; }
done
TINY="model.n_layer=1 model.n_embd=16 model.n_head=2 data.block_size=32"
for corpus in tang shakespeare english-poetry; do
  "$MUSE" train poem --corpus "$corpus" --steps 2 --batch-size 4 --no-progress --out "$WORK/runs/$corpus" $TINY
done
"$MUSE" train melody --corpus nottingham --model transformer --steps 2 --batch-size 4 --no-progress \
  --out "$WORK/runs/nottingham" $TINY
"$MUSE" melody --model "$WORK/runs/nottingham" --bars 2 --no-wav --out "$WORK/out" >/dev/null
"$MUSE" harmonize --primer-notes "G4 A4 B4 C5:2" --no-wav --out "$WORK/out" >/dev/null  # the shipped chorale model
"$MUSE" train score --corpus bach --steps 2 --batch-size 2 --no-progress --out "$WORK/runs/bach" $TINY data.limit=20
"$MUSE" infill "$WORK/out/harmony_001.mid" --model "$WORK/runs/bach" --bars 1 --no-wav --out "$WORK/out" >/dev/null
"$MUSE" melody --chords "C G Am F" --bars 4 --no-wav --out "$WORK/out" >/dev/null  # the shipped lead-sheet model
"$MUSE" chords "$WORK/out/leadsheet_001.mid" --no-wav --out "$WORK/out" >/dev/null
"$MUSE" train score --corpus nottingham --steps 2 --batch-size 2 --no-progress --out "$WORK/runs/lead" $TINY \
  data.limit=30  # Nottingham's chord symbols from the installed package
"$WORK/venv/bin/python" -c "import json, sys; p = json.load(open('$WORK/runs/lead/model/score_parts.json'))['parts']; \
sys.exit(0 if p[0]['name'] == 'Chords' else f'no chord part: {p}')"
echo "check_wheel: ok"
