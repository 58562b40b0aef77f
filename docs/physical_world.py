"""Figures and numbers of the physical synthetic world for ``docs/synthetic.md`` (issue 18).

Usage::

    python docs/physical_world.py one SEED [--size-km 32]   # one region, JSON on stdout
    python docs/physical_world.py stats [--seeds 1 2 3 4 5] [--size-km 32]
    python docs/physical_world.py timing [--seed 42] [--size-km 196x220]
    python docs/physical_world.py demo RUN_DIR     # after `hazard demo --world physical`: its metrics.json
    python docs/physical_world.py table                                    # JSON -> docs/synthetic.md
    python docs/physical_world.py figure [--seed 42] [--size-km 32]

``stats`` synthesises every seed in a fresh process (``one``), so each run's wall time and
peak resident memory are its own, and writes ``docs/results/physical_world.json``; ``table``
rewrites the block between ``<!-- physical:begin -->`` and ``<!-- physical:end -->`` in
``docs/synthetic.md`` from that file, so no number in it is typed by hand; ``timing`` times one
synthesis (fresh process, peak memory, load average before and after) and adds it to
``docs/results/physical_world_timing.json``; ``figure`` draws
``docs/img/physical_world.png`` (hillshade, hidden geology, one period's failures with runout).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

DOCS = Path(__file__).resolve().parent
RESULT = DOCS / "results" / "physical_world.json"
TIMING = DOCS / "results" / "physical_world_timing.json"
DEMO = DOCS / "results" / "physical_demo.json"
DEMO_BEGIN, DEMO_END = "<!-- physical-demo:begin -->", "<!-- physical-demo:end -->"
CV = DOCS / "results" / "physical_cv.json"
CV_BEGIN, CV_END = "<!-- physical-cv:begin -->", "<!-- physical-cv:end -->"
DEMO_COLUMNS = (("AUC", "susceptibility", "auc"), ("F1", "susceptibility", "f1"), ("ECE", "susceptibility", "ece"),
                ("Σ hazard / Σ obs.", "density", "hazard_total_ratio"), ("R (hazard)", "density", "pearson_r"),
                ("R pos.", "density", "pearson_r_positive"), ("mean ratio pos.", "density", "mean_ratio_positive"))
PAGE = DOCS / "synthetic.md"
FIGURE = DOCS / "img" / "physical_world.png"
BEGIN, END = "<!-- physical:begin -->", "<!-- physical:end -->"
PARAMS_BEGIN, PARAMS_END = "<!-- physical-parameters:begin -->", "<!-- physical-parameters:end -->"
LAGS_KM = tuple(range(1, 13))


def lag_correlation(residual: np.ndarray, lag: int) -> float:
    """Pearson correlation of (slice, y, x) residuals ``lag`` cells apart along x and y, pooled."""
    a = np.concatenate([residual[:, :, :-lag].ravel(), residual[:, :-lag, :].ravel()])
    b = np.concatenate([residual[:, :, lag:].ravel(), residual[:, lag:, :].ravel()])
    return float(np.corrcoef(a, b)[0, 1])


def correlation_length_km(correlogram: list[float]) -> float:
    """Lag (km) where the correlogram falls to 1/e of its 1 km value (linear interpolation).

    Normalising by the 1 km value leaves out the cell-scale nugget (one Bernoulli draw per cell).
    """
    target = correlogram[0] / np.e
    for k in range(1, len(correlogram)):
        if correlogram[k] < target:
            a, b = correlogram[k - 1], correlogram[k]
            return float(LAGS_KM[k - 1] + (a - target) / (a - b))
    return float("inf")


def residual_figures(region: Path) -> dict[str, Any]:
    """Correlogram of presence − p_true of a written region and its correlation length."""
    import rasterio
    import xarray as xr

    from hazardcore.synthetic import FILES, observed_density

    with xr.open_dataset(region / FILES["truth"]) as ds:
        p_true = ds["p_occurrence"].values.astype(np.float64)
        counts = [int(v) for v in ds["n_landslides"].sum(("y", "x")).values]
    with rasterio.open(region / FILES["inventory"]) as src:
        presence = observed_density(src.read(), 1e6) > 0
    correlogram = [lag_correlation(presence - p_true, k) for k in LAGS_KM if k < p_true.shape[1]]
    return {"residual_correlogram": correlogram, "residual_correlation_length_km": correlation_length_km(correlogram),
            "landslides_touching_cells": counts}


def one(seed: int, size_km: int) -> dict[str, Any]:
    """Synthesise one physical region (and the intensity world of the same seed) and summarise it."""
    from hazardcore.synthetic import synthesize
    from hazardcore.synthetic_physical import PhysicalParams

    threads = PhysicalParams().threads
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        report = synthesize(Path(tmp) / "physical", seed=seed, size_km=size_km, world="physical")
        seconds = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out = {"seed": seed, "size_km": size_km, "seconds": seconds, "peak_rss_mb": peak_mb, "threads": threads,
               "positive_fraction": report.positive_fraction,
               "positive_fraction_per_slice": report.positive_fraction_per_slice,
               "slices": report.slice_labels, "monte_carlo": report.monte_carlo,
               "density_p50_pct": report.density_p50_pct, "density_p95_pct": report.density_p95_pct,
               "density_max_pct": report.density_max_pct, "mean_slope_deg": report.mean_slope_deg,
               **residual_figures(Path(tmp) / "physical")}
        synthesize(Path(tmp) / "intensity", seed=seed, size_km=size_km)
        out["intensity_residual_correlogram"] = residual_figures(Path(tmp) / "intensity")["residual_correlogram"]
    return out


def timed(seed: int, size: str) -> dict[str, Any]:
    """Synthesise one physical region only; its wall time, peak memory and positive fraction."""
    from hazardcore.synthetic import synthesize

    rows, _, cols = size.partition("x")
    shape = (int(rows), int(cols or rows))
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        report = synthesize(Path(tmp) / "physical", seed=seed, size_km=shape, world="physical")
        seconds = time.perf_counter() - started
    return {"seed": seed, "size_km": list(shape), "seconds": seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "positive_fraction": report.positive_fraction, "oracle_auc": report.oracle_auc}


def timing(seed: int, size: str) -> dict[str, Any]:
    """Run :func:`timed` in a fresh process with the load average around it; return the entry."""
    before = os.getloadavg()
    done = subprocess.run([sys.executable, __file__, "timed", str(seed), "--size-km", size], check=True,
                          capture_output=True, text=True)
    entry = json.loads(done.stdout.strip().splitlines()[-1])
    return entry | {"load_average_before": before[0], "load_average_after": os.getloadavg()[0],
                    "cpus": os.cpu_count(), "machine": f"{platform.machine()}, {platform.python_version()}"}


def timing_lines() -> list[str]:
    """One line per timed size of ``docs/results/physical_world_timing.json``."""
    if not TIMING.exists():
        return []
    return [f"Synthesis of {e['size_km'][0]} × {e['size_km'][1]} km (seed {e['seed']}, `docs/physical_world.py "
            f"timing`, {e['cpus']} CPUs, load average {e['load_average_before']:.1f} before and "
            f"{e['load_average_after']:.1f} after, {_load_words(e)}): {_duration(e['seconds'])}, "
            f"peak memory {e['peak_rss_mb'] / 1024:.1f} GB." for e in json.loads(TIMING.read_text())["runs"]]


def _load_words(entry: dict[str, Any]) -> str:
    """Whether the cores were idle when the synthesis started: no other job's load on them (below 1)."""
    return "cores idle at the start" if entry["load_average_before"] < 1.0 else "i.e. cores shared with other jobs"


def _duration(seconds: float) -> str:
    """Seconds below two minutes, minutes above."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def stats(seeds: list[int], size_km: int) -> dict[str, Any]:
    """Run :func:`one` for every seed in a fresh process; return the result file's content."""
    runs = []
    for seed in seeds:
        done = subprocess.run([sys.executable, __file__, "one", str(seed), "--size-km", str(size_km)],
                              check=True, capture_output=True, text=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"seed {seed}: {runs[-1]['seconds']:.0f} s", file=sys.stderr)
    return {"machine": f"{platform.machine()}, {platform.python_version()}", "command": " ".join(sys.argv),
            "runs": runs}


def pm(value: float, error: float, digits: int = 3) -> str:
    """``value ± error`` with a true minus sign."""
    return f"{value:.{digits}f} ± {error:.{digits}f}".replace("-", "−")


def table(result: dict[str, Any]) -> str:
    """The markdown block of the physical world's statistics."""
    runs = result["runs"]
    labels = runs[0]["slices"]
    head = ("| seed | positive cell-slices | " + " | ".join(labels)
            + " | oracle AUC ± MC | oracle R+ ± MC | residual corr. 1 / 5 / 10 km | corr. length (km) "
            + "| intensity world: corr. 5 km | landslides 2015-post / 2018-post |")
    rule = "|" + "---|" * (head.count("|") - 1)
    lines = [head, rule]
    for run in runs:
        mc, gram, other = run["monte_carlo"], run["residual_correlogram"], run["intensity_residual_correlogram"]
        per = " | ".join(f"{100 * v:.1f} %" for v in run["positive_fraction_per_slice"])
        lines.append(f"| {run['seed']} | {100 * run['positive_fraction']:.1f} % | {per} | "
                     f"{pm(mc['oracle_auc'], mc['oracle_auc_mc_se'])} | "
                     f"{pm(mc['oracle_r_positive'], mc['oracle_r_positive_mc_se'])} | "
                     f"{gram[0]:.2f} / {gram[4]:.2f} / {gram[9]:.2f} | {run['residual_correlation_length_km']:.1f} | "
                     f"{other[4]:.2f} | {_legacy(run)} |".replace("-", "−"))
    n_mc = runs[0]["monte_carlo"]["n_realisations"]
    boot = runs[0]["monte_carlo"]["bootstrap"]
    size = runs[0]["size_km"]
    skipped = max(max(r["monte_carlo"]["skipped_failures_bound"]) for r in runs)
    timing = ", ".join(f"seed {r['seed']} {r['seconds']:.0f} s / {r['peak_rss_mb'] / 1024:.2f} GB" for r in runs)
    notes = [
        "",
        f"{size} × {size} km, 8 periods, {n_mc} Monte-Carlo realisations; ± is the Monte-Carlo standard error "
        f"of the oracle's score ({boot} bootstrap resamples of the realisations). Residual correlation: "
        "presence (differenced inventory) − `p_occurrence`, cells 1, 5 and 10 km apart along rows and columns, "
        "pooled over periods; correlation length: lag where it falls to 1/e of its 1 km value. Landslides: "
        "count of footprint-cell contacts in the mapped realisation (the earthquake legacy fades between the "
        f"first and the last monsoon). Largest bound of the failures skipped by the pixel screening: {skipped:.3f} "
        "per period.",
        f"Synthesis time and peak memory (`{result['command']}`, {result['machine']}): {timing}.",
    ]
    return "\n".join(lines + notes + timing_lines())


def parameter_tables() -> str:
    """The lithology table and the random parts' parameters, read from the code's defaults."""
    from dataclasses import fields

    from hazardcore.synthetic_geology import LITHOLOGIES, GeologyParams
    from hazardcore.synthetic_physical import PhysicalParams

    lines = ["| class | share | c' (kPa) | φ' (°) | soil depth on gentle slopes (m) | T (m²/day) "
             "| threshold hillslope (°) | channel steepness × |", "|" + "---|" * 8]
    lines += [f"| {k}: {lith.name} | {lith.share:.2f} | {lith.cohesion_kpa:g} | {lith.friction_deg:g} | "
              f"{lith.soil_depth_m:g} | {lith.transmissivity_m2_day:g} | {lith.critical_angle_deg:g} | "
              f"{lith.steepness_factor:g} |" for k, lith in enumerate(LITHOLOGIES)]
    geo = GeologyParams()
    lines += ["", f"Strength field: correlation {geo.along_strike_m / 1000:g} km along strike (east–west), "
              f"{geo.across_strike_m / 1000:g} km across, on a {geo.lattice_m:g} m lattice.", "",
              "| `PhysicalParams` | default |", "|---|---|"]
    lines += [f"| `{f.name}` | {getattr(PhysicalParams(), f.name)!r} |" for f in fields(PhysicalParams)]
    return "\n".join(lines)


def replace_block(text: str, begin: str, end: str, body: str) -> str:
    """``text`` with the lines between ``begin`` and ``end`` replaced by ``body``."""
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def _legacy(run: dict[str, Any]) -> str:
    """Landslide counts of the first and last post-monsoon periods of a run."""
    counts = dict(zip(run["slices"], run["landslides_touching_cells"], strict=True))
    return f"{counts.get('2015-post', 0):,} / {counts.get('2018-post', 0):,}"


def demo_table(metrics: dict[str, Any]) -> str:
    """Model, baselines, slice base rate and oracle of one demo run on the physical world (its test cells)."""
    sources = {"**model**": metrics, **metrics.get("baselines", {})}
    if "oracle" in metrics:
        sources["oracle"] = metrics["oracle"]
    lines = ["| source | " + " | ".join(label for label, *_ in DEMO_COLUMNS) + " |",
             "|" + "---|" * (len(DEMO_COLUMNS) + 1)]
    for name, block in sources.items():
        values = [block.get(group, {}).get(key) for _, group, key in DEMO_COLUMNS]
        cells = ["–" if v is None or v != v else f"{v:.3f}".replace("-", "−") for v in values]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", f"`hazard demo --world physical` (seed 42, 32 × 32 km, demo configuration), {metrics['split']} "
              f"split, {metrics['test_cells']:,} test cell-slices of which {metrics['positive_test_cells']:,} "
              f"positive; run `{metrics['run_id']}`. One split and one seed: no interval, no cross-validation."]
    return "\n".join(lines)


def cv_block(result: dict[str, Any]) -> str:
    """The physical world's cross-validation (``hazard cv``'s ``cv.json``): where it comes from, tables, verdicts."""
    from hazardcore.cv import cv_table, verdict_lines

    rows, cols = result["region"]["cells"]
    head = (f"{rows} × {cols} cells × {len(result['region']['slices'])} periods; `{result['command']}`; "
            f"{result['created'][:10]}, commit {result.get('commit', 'unknown')[:10]}, {result['machine']['cpus']} "
            f"CPUs, {result['elapsed_s'] / 60:.0f} min.")
    return "\n".join([head, "", cv_table(result), "", *verdict_lines(result)])


def rendered_page() -> str:
    """``docs/synthetic.md`` with its generated blocks: parameters from the code, the rest from result files."""
    text = replace_block(PAGE.read_text(), PARAMS_BEGIN, PARAMS_END, parameter_tables())
    if RESULT.exists():
        text = replace_block(text, BEGIN, END, table(json.loads(RESULT.read_text())))
    if DEMO.exists():
        text = replace_block(text, DEMO_BEGIN, DEMO_END, demo_table(json.loads(DEMO.read_text())))
    if CV.exists() and CV_BEGIN in text:
        text = replace_block(text, CV_BEGIN, CV_END, cv_block(json.loads(CV.read_text())))
    return text


def write_table() -> None:
    """Rewrite the generated blocks of ``docs/synthetic.md`` (:func:`rendered_page`)."""
    PAGE.write_text(rendered_page())


def figure(seed: int, size_km: int, period: str, out: Path) -> None:
    """Hillshade with the cell lattice, the hidden geology, and one period's failures with runout."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LightSource, ListedColormap

    from hazardcore.grid import GridSpec
    from hazardcore.synthetic import X_MIN, Y_MAX
    from hazardcore.synthetic_geology import LITHOLOGIES
    from hazardcore.synthetic_physical import PhysicalParams, generate
    from hazardcore.synthetic_physics import landslides

    grid = GridSpec(crs="EPSG:32645", x_min=X_MIN, y_max=Y_MAX, n_rows=size_km, n_cols=size_km)
    world = generate(grid, seed, 8, params=PhysicalParams(n_realisations=2, bootstrap=2))  # the inventory only
    t = [q.label for q in world.periods].index(period)
    z = world.terrain.z.reshape(world.terrain.shape)
    shade = LightSource(azdeg=315, altdeg=45).hillshade(z, dx=grid.pixel_size_m, dy=grid.pixel_size_m)
    slides = landslides(world.inventory_failed[t], z, world.terrain.receiver.reshape(z.shape), grid.pixel_size_m)
    source = np.zeros(z.size, dtype=bool)
    path = np.zeros(z.size, dtype=bool)
    source[world.inventory_failed[t]] = True
    path[slides.pixel] = True
    path &= ~source
    km = grid.pixel_size_m / 1000.0
    extent = (-1.0, z.shape[1] * km - 1.0, -1.0, z.shape[0] * km - 1.0)
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.6), constrained_layout=True)
    axes[0].imshow(shade, cmap="gray", extent=extent)
    axes[0].set_title(f"hillshade (seed {seed}), 1 km margin outside the dashed grid")
    colours = ListedColormap(["#d95f02", "#e6ab02", "#66a61e", "#1b9e77"])
    axes[1].imshow(shade, cmap="gray", extent=extent)
    geo = axes[1].imshow(world.geology.lithology, cmap=colours, alpha=0.45, extent=extent, vmin=-0.5, vmax=3.5,
                         interpolation="none")
    bar = fig.colorbar(geo, ax=axes[1], ticks=range(len(LITHOLOGIES)), shrink=0.8)
    bar.ax.set_yticklabels([lith.name for lith in LITHOLOGIES], fontsize=7)
    axes[1].set_title("hidden geology (not written; weak to strong)")
    window = _busiest_window(source.reshape(z.shape), 8 * grid.pixels_per_cell)
    rows, cols = window
    crop = (cols.start * km - 1.0, cols.stop * km - 1.0, (z.shape[0] - rows.stop) * km - 1.0,
            (z.shape[0] - rows.start) * km - 1.0)
    axes[2].imshow(shade[rows, cols], cmap="gray", extent=crop)
    overlay = np.full(z.shape, np.nan)
    overlay[path.reshape(z.shape)] = 1.0
    overlay[source.reshape(z.shape)] = 0.0
    axes[2].imshow(overlay[rows, cols], cmap=ListedColormap(["#b2182b", "#f4a582"]), vmin=0, vmax=1, extent=crop,
                   interpolation="none")
    axes[2].set_title(f"{period}: {slides.count} landslides\nfailed pixels (dark red), runout (light), 1 km cells",
                      fontsize=10)
    for ax in axes:
        ax.set_xlabel("km east")
        ax.set_ylabel("km north")
    for ax in axes[:2]:
        ax.plot([0, size_km, size_km, 0, 0], [0, 0, size_km, size_km, 0], "k--", lw=0.8)
    for x in range(0, size_km + 1):
        axes[2].axvline(x, color="white", lw=0.4, alpha=0.6)
        axes[2].axhline(x, color="white", lw=0.4, alpha=0.6)
    axes[2].set_xlim(crop[0], crop[1])
    axes[2].set_ylim(crop[2], crop[3])
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def _busiest_window(failed: np.ndarray, side: int) -> tuple[slice, slice]:
    """The ``side`` × ``side`` pixel window (on a ``side / 4`` step) holding the most failed pixels."""
    step = side // 4
    best, where = -1, (0, 0)
    for r in range(0, failed.shape[0] - side + 1, step):
        for c in range(0, failed.shape[1] - side + 1, step):
            count = int(failed[r: r + side, c: c + side].sum())
            if count > best:
                best, where = count, (r, c)
    return slice(where[0], where[0] + side), slice(where[1], where[1] + side)


def main() -> None:
    """Command line: one, stats, table, figure."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    o = sub.add_parser("one")
    o.add_argument("seed", type=int)
    o.add_argument("--size-km", type=int, default=32)
    s = sub.add_parser("stats")
    s.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    s.add_argument("--size-km", type=int, default=32)
    sub.add_parser("table")
    tm = sub.add_parser("timing")
    tm.add_argument("--seed", type=int, default=42)
    tm.add_argument("--size-km", default="196x220")
    cvp = sub.add_parser("cv")
    cvp.add_argument("workdir", type=Path, help="working folder of `hazard cv` on the physical world (holds cv.json)")
    dm = sub.add_parser("demo")
    dm.add_argument("run", type=Path, help="run folder of `hazard demo --world physical` (holds metrics.json)")
    td = sub.add_parser("timed")
    td.add_argument("seed", type=int)
    td.add_argument("--size-km", default="196x220")
    f = sub.add_parser("figure")
    f.add_argument("--seed", type=int, default=42)
    f.add_argument("--size-km", type=int, default=32)
    f.add_argument("--period", default="2015-post")
    f.add_argument("--out", type=Path, default=FIGURE)
    args = parser.parse_args()
    if args.command == "one":
        print(json.dumps(one(args.seed, args.size_km)))
    elif args.command == "stats":
        RESULT.parent.mkdir(parents=True, exist_ok=True)
        RESULT.write_text(json.dumps(stats(args.seeds, args.size_km), indent=1) + "\n")
        write_table()
    elif args.command == "table":
        write_table()
    elif args.command == "demo":
        DEMO.write_text((args.run / "metrics.json").read_text())
        write_table()
    elif args.command == "cv":
        CV.write_text((args.workdir / "cv.json").read_text())
        write_table()
    elif args.command == "timed":
        print(json.dumps(timed(args.seed, args.size_km)))
    elif args.command == "timing":
        runs = json.loads(TIMING.read_text())["runs"] if TIMING.exists() else []
        entry = timing(args.seed, args.size_km)
        runs = [r for r in runs if r["size_km"] != entry["size_km"]] + [entry]
        TIMING.write_text(json.dumps({"runs": runs}, indent=1) + "\n")
        write_table()
    else:
        figure(args.seed, args.size_km, args.period, args.out)


if __name__ == "__main__":
    main()
