"""Scale benchmark of the whole pipeline: the CLI's code path (``pipeline.run_from_files``) on generated corpora.

Usage: .venv/bin/python benchmarks/pipeline_bench.py [--sizes 200000 1000000] [--format mixed] [--seed 1]
                                                     [--work /tmp/achats-bench] [--json FILE] [--check-equal]
                                                     [--incremental 25000]

For each size, a corpus is generated once (benchmarks/generate_decp.py, kept in ``--work`` for the next runs), then
one fresh Python process (so that peak RSS is that size's own) runs ``run_from_files`` with a step observer and
prints, per step (parse, normalize, classify, validate, publish; a step's figures exclude the steps nested in it)
and in total: wall time, CPU time (the process and its reaped children), peak RSS after the step and rows/s. The
same run measures the floor, in a child process (its parsed trees would otherwise stay in the pipeline's memory):
the time ``orjson`` takes just to parse the same files' bytes with the garbage collector paused, once before the
pipeline and once after (this machine's speed varies by the minute: the mean of both is the floor of the run), then
the ratio total / floor. Each size starts with an empty reading cache (every file is read) and an empty publication
folder (the history built from nothing); ``--incremental N`` then adds one month of N records and runs again with
that cache, published over a copy of the history's publication, as a daily or monthly run does on a built history
(its changelog compares both publications). ``--check-equal`` also runs the normal CLI
(``achats-innovants run --from-files``) on the same files and compares the published data files byte for byte.
Figures depend on the machine and its load: they are printed, never asserted.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
STEPS = ("imports", "parse", "normalize", "classify", "validate", "publish")


def peak_rss_bytes() -> int:
    """The process's peak resident memory (VmHWM), read from /proc where available."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def children_peak_rss_bytes() -> int:
    """Peak resident memory of the largest child process waited for (reading workers, business-rule checks)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class StepTimer:
    """The pipeline's step observer: wall and CPU per step, nested steps subtracted from their parent."""

    def __init__(self) -> None:
        self.figures: dict[str, dict[str, float]] = {}
        self._stack: list[list[float]] = []  # per open step: [wall, cpu] spent in nested steps

    @contextmanager
    def __call__(self, name: str):
        self._stack.append([0.0, 0.0])
        wall, cpu = time.perf_counter(), cpu_seconds()
        try:
            yield
        finally:
            wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
            nested_wall, nested_cpu = self._stack.pop()
            if self._stack:
                self._stack[-1][0] += wall
                self._stack[-1][1] += cpu
            step = self.figures.setdefault(name, {"wall_s": 0.0, "cpu_s": 0.0})
            step["wall_s"] += wall - nested_wall
            step["cpu_s"] += cpu - nested_cpu
            step["peak_rss_bytes"] = peak_rss_bytes()


def corpus_files(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.iterdir() if p.is_file() and not p.name.startswith("."))


def orjson_floor(files: list[Path]) -> float:
    """Seconds for orjson to parse the files' bytes (already read) with the garbage collector paused."""
    import orjson

    total = 0.0
    for path in files:
        data = path.read_bytes()
        gc.disable()
        try:
            start = time.perf_counter()
            document = orjson.loads(data)
            total += time.perf_counter() - start
        finally:
            gc.enable()
        del document, data
    return total


def floor_apart(files: list[Path]) -> float:
    """``orjson_floor`` measured in a child process: the memory of the trees it parses is not left in this one, whose
    peak is the pipeline's."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(orjson_floor, (files,))


def run_one(corpus: Path, out: Path) -> dict:
    """The floor (in a child process), the pipeline in this process as the CLI runs it (imports included in the
    total), then the floor again."""
    files = corpus_files(corpus)
    before = floor_apart(files)
    timer = StepTimer()
    wall, cpu = time.perf_counter(), cpu_seconds()
    with timer("imports"):
        from pipelines.pipeline import run_from_files
    summary = run_from_files([str(corpus)], out, steps=timer)
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    manifest = json.loads((corpus / ".corpus.json").read_text())
    total = {"wall_s": wall, "cpu_s": cpu, "peak_rss_bytes": peak_rss_bytes(),
             "children_peak_rss_bytes": children_peak_rss_bytes()}
    after = floor_apart(files)
    floor = (before + after) / 2
    return {
        "records": manifest["records"], "format": manifest["format"], "seed": manifest["seed"],
        "distributions": manifest["distributions"], "files": len(files),
        "bytes": sum(p.stat().st_size for p in files), "marches_publies": summary.marches, "rejets": summary.rejets,
        "steps": timer.figures, "total": total, "orjson_floor_s": floor, "orjson_floor_before_s": before,
        "orjson_floor_after_s": after, "ratio_floor": wall / floor if floor else None,
    }


def ensure_corpus(work: Path, records: int, fmt: str, seed: int) -> Path:
    """The corpus of that size, generated unless an identical one (same manifest) is already there."""
    sys.path.insert(0, str(BENCH_DIR))
    from generate_decp import MANIFEST, VERSION, generate

    corpus = work / f"decp-{fmt}-{records}-seed{seed}"
    manifest = corpus / MANIFEST
    if manifest.is_file():
        known = json.loads(manifest.read_text())
        if (known.get("records"), known.get("format"), known.get("seed"), known.get("version")) == (
                records, fmt, seed, VERSION):
            return corpus
        shutil.rmtree(corpus)
    start = time.perf_counter()
    generate(records, seed, fmt, corpus)
    print(f"corpus {corpus.name} generated in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return corpus


def _in_subprocess(corpus: Path, out: Path, cache: Path) -> dict:
    result = out.with_suffix(".json")
    command = [sys.executable, str(Path(__file__).resolve()), "--one", str(corpus), "--out", str(out),
               "--json", str(result)]
    subprocess.run(command, check=True, cwd=ROOT, env={**os.environ, "ACHATS_CACHE_DIR": str(cache)})
    return json.loads(result.read_text())


NEW_MONTH = "decp-2026-01.json"


def with_new_month(work: Path, corpus: Path, records: int, seed: int) -> Path:
    """The corpus plus one month published after it (links to the history's files, the month generated)."""
    sys.path.insert(0, str(BENCH_DIR))
    from generate_decp import MANIFEST, generate

    grown = work / f"{corpus.name}-plus-un-mois"
    shutil.rmtree(grown, ignore_errors=True)
    generate(records, seed + 1000, "2024", grown / ".mois", per_file=records)
    os.rename(grown / ".mois" / "decp-2024-01.json", grown / NEW_MONTH)
    shutil.rmtree(grown / ".mois")
    for path in corpus_files(corpus):
        (grown / path.name).symlink_to(path)
    manifest = json.loads((corpus / MANIFEST).read_text())
    manifest.update(records=manifest["records"] + records, files=manifest["files"] + [NEW_MONTH])
    (grown / MANIFEST).write_text(json.dumps(manifest))
    return grown


def over_history(history: Path, folder: Path) -> Path:
    """``folder``: a copy of the history's publication (hard links), which the month is published over, as the monthly
    run replaces the published folder (its changelog compares the two, its archive keeps both); the history's own
    publication stays as built, for ``--check-equal``."""
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(history, folder, copy_function=os.link)
    return folder


def published_digests(out: Path) -> dict[str, str]:
    """sha256 of the published data files (the dated report, catalogue and workbook are left out)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((out / "data").iterdir())
            if p.suffix in (".csv", ".parquet")}


def check_equal(corpus: Path, bench_out: Path) -> list[str]:
    """Names of the data files the normal CLI (no reading cache) publishes differently from the benchmark's run
    (empty: the same bytes)."""
    cli_out = bench_out.with_name(bench_out.name + "-cli")
    cli = Path(sys.executable).with_name("achats-innovants")
    subprocess.run([str(cli), "run", "--from-files", str(corpus), "--out", str(cli_out)], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL, env={**os.environ, "ACHATS_CACHE_DIR": "off"})
    ours, theirs = published_digests(bench_out), published_digests(cli_out)
    return sorted(name for name in ours.keys() | theirs.keys() if ours.get(name) != theirs.get(name))


def _mb(value: float) -> str:
    return f"{value / 1e6:,.0f}"


def table(result: dict) -> str:
    records = result["records"]
    lines = [f"{records:,} records ({result['format']}, seed {result['seed']}, {result['files']} files, "
             f"{_mb(result['bytes'])} MB; distributions: {result['distributions']}) -> "
             f"{result['marches_publies']:,} contracts published, {result['rejets']:,} rejets",
             f"{'step':<10} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12} {'rows/s':>10}"]
    for name in STEPS:
        step = result["steps"].get(name)
        if step:
            rate = records / step["wall_s"] if step["wall_s"] > 0 else float("inf")
            lines.append(f"{name:<10} {step['wall_s']:>8.2f} {step['cpu_s']:>8.2f} "
                         f"{_mb(step['peak_rss_bytes']):>12} {rate:>10,.0f}")
    total = result["total"]
    lines.append(f"{'total':<10} {total['wall_s']:>8.2f} {total['cpu_s']:>8.2f} {_mb(total['peak_rss_bytes']):>12} "
                 f"{records / total['wall_s']:>10,.0f}")
    if total.get("children_peak_rss_bytes"):
        lines.append(f"largest child process (reading workers, business-rule checks, the floor): peak RSS "
                     f"{_mb(total['children_peak_rss_bytes'])} MB (counting pages still shared with the parent)")
    bracket = (f" (before {result['orjson_floor_before_s']:.2f}, after {result['orjson_floor_after_s']:.2f})"
               if "orjson_floor_after_s" in result else "")
    lines.append(f"orjson floor (gc paused): {result['orjson_floor_s']:.2f} s{bracket}; ratio total / floor: "
                 f"{result['ratio_floor']:.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--format", choices=("2024", "2019", "mixed"), default="mixed")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, default=Path("/tmp/achats-bench"), help="corpora and publications")
    parser.add_argument("--json", type=Path, help="write the figures there too")
    parser.add_argument("--incremental", type=int, default=0, metavar="RECORDS",
                        help="after each size, add one month of RECORDS records and run again on the cache")
    parser.add_argument("--check-equal", action="store_true",
                        help="also run the normal CLI on the smallest corpus and compare the published data files")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # child process: one corpus
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        result = run_one(args.one, args.out)
        args.json.write_text(json.dumps(result, indent=2))
        return 0
    results = []
    for size in args.sizes:
        corpus = ensure_corpus(args.work, size, args.format, args.seed)
        cache = args.work / f"cache-{corpus.name}"
        shutil.rmtree(cache, ignore_errors=True)  # the full build reads every file (and fills the cache)
        publication = args.work / f"publication-{corpus.name}"
        shutil.rmtree(publication, ignore_errors=True)  # the history built from nothing: no publication before it
        result = _in_subprocess(corpus, publication, cache)
        results.append(result)
        print(table(result), flush=True)
        if args.incremental:
            grown = with_new_month(args.work, corpus, args.incremental, args.seed)
            added = _in_subprocess(grown, over_history(publication, args.work / f"publication-{grown.name}"), cache)
            added["incremental_records"] = args.incremental
            result["incremental"] = added
            print(f"one month added ({args.incremental:,} records) on top of the built history, its cache reused:")
            print(table(added), flush=True)
    if len(results) > 1:
        first, last = results[0], results[-1]
        ratio = last["total"]["wall_s"] / first["total"]["wall_s"]
        print(f"scaling {first['records']:,} -> {last['records']:,} records "
              f"(x{last['records'] / first['records']:.1f}): time x{ratio:.2f}")
    status = 0
    if args.check_equal:
        corpus = ensure_corpus(args.work, min(args.sizes), args.format, args.seed)
        different = check_equal(corpus, args.work / f"publication-{corpus.name}")
        print("benchmark and CLI publications: " + ("identical data files" if not different
                                                    else "DIFFERENT: " + ", ".join(different)))
        status = 1 if different else 0
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return status


if __name__ == "__main__":
    sys.exit(main())
