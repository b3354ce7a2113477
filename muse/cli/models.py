"""muse models — list shipped models; export a run as a model directory, or a decoding model as ONNX."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from muse.cli.options import subparser

EXAMPLES = (
    "muse models list",
    "muse models export runs/essen-lstm models/essen-lstm",
    "muse models export melody-transformer --format onnx -o melody-onnx",
)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparser(sub, "models", help="list shipped models or export a trained run", examples=EXAMPLES,
                  description="List the models shipped with muse (the default action), or export a training "
                              "run as a model directory that every generation verb reads with --model.")
    s = p.add_subparsers(dest="action", metavar="ACTION")
    subparser(s, "list", help="models shipped with muse", examples=EXAMPLES[:1])
    e = subparser(s, "export", help="write a run (its model/, best or last checkpoint) as a model directory, "
                                    "or a decoding model as ONNX",
                  examples=EXAMPLES[1:],
                  description="Write a model (a run, checkpoint, model directory or shipped model name) as a "
                              "model directory (--format dir, the default), or its decoding step as an ONNX graph "
                              "with the KV cache / RNN state as inputs and outputs (--format onnx: OUT/model.onnx "
                              "beside tokenizer.json and generation_config.json, checked against torch with "
                              "onnxruntime; needs pip install 'muse[onnx]'). Transformer and RNN language models only.")
    e.add_argument("run", metavar="MODEL", help="run directory, checkpoint file, model directory or shipped model name")
    e.add_argument("out", nargs="?", metavar="OUT", help="new directory (or give it with -o)")
    e.add_argument("-o", "--output", metavar="OUT", help="new directory")
    e.add_argument("--format", choices=("dir", "onnx"), default="dir",
                   help="dir: a muse model directory (default); onnx: an ONNX decoding graph")
    return p


def _export(args: argparse.Namespace) -> int:
    from muse.errors import ConfigError, OutputError

    outs = [o for o in (args.out, args.output) if o]
    if not outs:
        raise ConfigError("models export: name the output directory (OUT or -o OUT)")
    if len(outs) == 2 and outs[0] != outs[1]:
        raise ConfigError(f"models export: two outputs given ({outs[0]} and -o {outs[1]}); give one")
    out = outs[0]
    from muse.core.files import check_output_dir
    from muse.recipes.hub import is_model_directory, load_model, save_model

    check_output_dir(out)
    from muse.models.onnx_export import GRAPH_FILE

    earlier = is_model_directory(out) if args.format == "dir" else (Path(out) / GRAPH_FILE).is_file()
    if Path(out).is_dir() and any(Path(out).iterdir()) and not earlier:  # an earlier export of this kind: replaced
        raise OutputError("folder exists and holds other files; name a new folder (it would be replaced)", out)

    if args.format == "dir":
        print(save_model(out, load_model(args.run)))
        return 0
    from muse.models.onnx_export import export_onnx, exportable

    loaded = load_model(args.run)
    why = exportable(loaded.model)
    if why:
        raise ConfigError(f"{args.run}: {why}")
    report = export_onnx(loaded.model, out, source=loaded.source, tokenizer=loaded.tokenizer,
                         generation_config=loaded.generation_config)
    print(report.directory)
    print(f"  files: {', '.join(report.files)}; max |logit diff| to torch (onnxruntime): {report.max_abs_diff:.2g}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.action == "export":
        return _export(args)
    from muse.recipes.hub import shipped_models

    for name, path in shipped_models().items():
        cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
        kind = json.loads((path / "recipe.json").read_text(encoding="utf-8")).get("kind", "")
        size = sum(f.stat().st_size for f in path.iterdir()) / 1e6
        print(f"{name:<22} {kind:<7} {cfg['model_name']:<12} {size:5.1f} MB  {path}")
    return 0
