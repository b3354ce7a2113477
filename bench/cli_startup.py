"""Start-up time of the muse command: `muse --help`, `muse melody --help` and `import muse` against `python -c pass`.

Every command is a fresh process of the venv's interpreter (the `muse` console script for the help commands),
run N times, interleaved (each round runs every command once, the order rotating from round to round, after a
warm-up round that is dropped). Reported: the median wall time of each, its median CPU time (user + system of
the child, steadier than wall time on a shared machine), and both minus those of the empty interpreter, which is
what muse itself costs. Goals: `muse --help` < 0.3 s and `import muse` < 0.1 s over the empty interpreter.

Two settings: *bytecode cached* (the normal case of an installed package: the children write and read .pyc files
under a private PYTHONPYCACHEPREFIX, filled by the warm-up round) and *environment as is* (the children inherit
this process's environment; with PYTHONDONTWRITEBYTECODE=1 and no __pycache__ in the checkout, every muse module
is compiled from source at every start).

    python bench/cli_startup.py [--runs N] [--quick] [--python PATH] [--out FILE]

Needs no torch; writes bench/results/cli_startup.json.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
GOALS = {"muse --help": 0.3, "import muse": 0.1}
"""Seconds over `python -c pass`."""
CHECK = ("import sys, muse.cli; muse.cli.build_parser(); "
         "print(sorted(m for m in ('torch', 'numpy', 'muse.music', 'muse.poetry', 'muse.image') if m in sys.modules))")


def commands(python: Path) -> dict[str, list[str]]:
    script = python.parent / "muse"
    muse = [str(script)] if script.is_file() else [str(python), "-m", "muse"]
    return {
        "python -c pass": [str(python), "-c", "pass"],
        "import muse": [str(python), "-c", "import muse"],
        "muse --help": [*muse, "--help"],
        "muse melody --help": [*muse, "melody", "--help"],
    }


def run_once(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one run of ``argv``."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(argv)} failed ({code}):\n{err.read().decode(errors='replace')}")
    return wall, usage.ru_utime + usage.ru_stime


def measure(cmds: dict[str, list[str]], runs: int, env: dict[str, str] | None = None
            ) -> dict[str, dict[str, list[float]]]:
    names = list(cmds)
    out: dict[str, dict[str, list[float]]] = {k: {"wall": [], "cpu": []} for k in names}
    for r in range(runs + 1):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            wall, cpu = run_once(cmds[name], env)
            if r:  # round 0 warms the caches and is dropped
                out[name]["wall"].append(wall)
                out[name]["cpu"].append(cpu)
    return out


def summarize(cmds: dict[str, list[str]], times: dict[str, dict[str, list[float]]]) -> dict:
    """Medians, and the same minus those of ``python -c pass``, with the goals."""
    med = {k: {m: statistics.median(v[m]) for m in ("wall", "cpu")} for k, v in times.items()}
    base = med["python -c pass"]
    rows = {}
    for name, m in med.items():
        rows[name] = {
            "command": cmds[name], "median_wall_s": round(m["wall"], 4), "median_cpu_s": round(m["cpu"], 4),
            "over_empty_wall_s": round(m["wall"] - base["wall"], 4),
            "over_empty_cpu_s": round(m["cpu"] - base["cpu"], 4),
            "min_wall_s": round(min(times[name]["wall"]), 4), "max_wall_s": round(max(times[name]["wall"]), 4),
        }
        if name in GOALS:
            rows[name]["goal_over_empty_s"] = GOALS[name]
            rows[name]["goal_met"] = m["wall"] - base["wall"] < GOALS[name]
    return {"results": rows, "wall_s": {k: [round(x, 5) for x in v["wall"]] for k, v in times.items()},
            "cpu_s": {k: [round(x, 5) for x in v["cpu"]] for k, v in times.items()}}


def environment(python: Path) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    version = subprocess.run([str(python), "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True).stdout.strip()
    return {"date": datetime.datetime.now().isoformat(timespec="seconds"), "python": version,
            "interpreter": str(python), "cpu": cpu, "cpu_cores": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def main() -> int:
    default_python = ROOT / ".venv" / "bin" / "python"
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--runs", type=int, default=31, help="timed runs of each command (default: %(default)s)")
    p.add_argument("--quick", action="store_true", help="5 runs each")
    p.add_argument("--python", type=Path, default=default_python if default_python.is_file() else Path(sys.executable),
                   help="interpreter to time (default: the repository's .venv, else this one)")
    p.add_argument("--out", type=Path, default=RESULTS / "cli_startup.json")
    args = p.parse_args()
    runs = 5 if args.quick else args.runs
    env = environment(args.python)
    env["load_average_before"] = env.pop("load_average")
    cmds = commands(args.python)
    loaded = subprocess.run([str(args.python), "-c", CHECK], capture_output=True, text=True, cwd=ROOT)
    settings = {}
    with tempfile.TemporaryDirectory(prefix="muse-pycache-") as prefix:
        cached = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        cached["PYTHONPYCACHEPREFIX"] = prefix
        settings["bytecode cached"] = summarize(cmds, measure(cmds, runs, cached))
    settings["environment as is"] = summarize(cmds, measure(cmds, runs))
    settings["environment as is"]["PYTHONDONTWRITEBYTECODE"] = os.environ.get("PYTHONDONTWRITEBYTECODE")
    env["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    result = {"benchmark": "cli_startup", "environment": env, "runs": runs,
              "heavy_modules_after_build_parser": loaded.stdout.strip() or loaded.stderr.strip(),
              "settings": settings}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")

    print(f"{runs} runs each, interleaved; {env['python']} on {env['cpu']} ({env['cpu_cores']} cores), "
          f"load {env['load_average_before'][0]} -> {env['load_average_after'][0]}")
    for setting, res in settings.items():
        print(f"\n{setting}:\n")
        print("| command | median wall (s) | over `python -c pass` (s) | median CPU (s) | over empty, CPU (s) | goal |")
        print("|---|---|---|---|---|---|")
        for name, r in res["results"].items():
            goal = (f"< {r['goal_over_empty_s']} s: {'met' if r['goal_met'] else 'MISSED'}"
                    if "goal_over_empty_s" in r else "")
            print(f"| `{name}` | {r['median_wall_s']:.3f} | {r['over_empty_wall_s']:+.3f} | {r['median_cpu_s']:.3f} | "
                  f"{r['over_empty_cpu_s']:+.3f} | {goal} |")
    print(f"heavy modules loaded by build_parser(): {result['heavy_modules_after_build_parser']}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
