"""Write the README's results tables from the metrics files in ``docs/results/``.

Each ``docs/results/<split>.json`` is the ``metrics.json`` of a demo run (default region,
seed 42, demo configuration) trained with that split (its ``run_id`` and ``split_config``
say which); ``docs/results/leave_one_slice_out.json`` is the table ``hazard train --split
temporal --test-slice all`` writes. ``python docs/results.py`` rewrites the tables between
the README's ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` markers (``results``: pooled
scores; ``slices``: within-slice scores; ``folds``: one row per held-out slice);
``tests/test_docs_results.py`` fails when the committed README differs from what this
script writes, so no number in the tables is typed by hand.

To refresh the files after a change of the model: ``bash docs/results.sh`` (the demo, the
three other splits and the leave-one-slice-out folds on its working folder, then this script).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
from pathlib import Path
from typing import Any

from hazardcore.predictors import CHANNEL_UNITS

DOCS = Path(__file__).resolve().parent
RESULTS = DOCS / "results"
README = DOCS.parent / "README.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
FOLDS = RESULTS / "leave_one_slice_out.json"
MIN_POSITIVES = 10  # slices with fewer positive test cells are too small to score a decision
SPLITS = ("spatial", "random", "temporal", "forward")
COLUMNS = (("AUC", "susceptibility", "auc", 3), ("F1", "susceptibility", "f1", 3),
           ("ECE", "susceptibility", "ece", 3), ("Σ hazard / Σ obs.", "density", "hazard_total_ratio", 2),
           ("R (hazard)", "density", "pearson_r", 3), ("R pos.", "density", "pearson_r_positive", 3),
           ("mean ratio pos.", "density", "mean_ratio_positive", 2),
           ("pos. < 0.05 %", "density", "positive_below_0.05", 3),
           ("R density vs truth", "density", "r_density_vs_truth", 3))


def number(value: Any, digits: int) -> str:
    """A metric as fixed decimals with a true minus sign; "–" when missing or NaN."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}".replace("-", "−")


def split_label(metrics: dict[str, Any]) -> str:
    """First column of a split's rows: protocol, test cells, leak, held-out slices."""
    split, cells = metrics["split"], f"{metrics['test_cells']:,}"
    if split in ("spatial", "random"):
        return f"{split} ({cells}; leak {number(metrics.get('leaked_fraction', 0.0), 2)})"
    return f"{split}, {', '.join(metrics['slices'])} held out ({cells})"


def rows(metrics: dict[str, Any]) -> list[str]:
    """Table rows of one split: model (bold), baselines, oracle."""
    sources = {"**model**": metrics, **metrics.get("baselines", {})}
    if "oracle" in metrics:
        sources["oracle"] = metrics["oracle"]
    out = []
    for k, (name, block) in enumerate(sources.items()):
        cells = [number(block.get(group, {}).get(key), digits) for _, group, key, digits in COLUMNS]
        out.append(f"| {split_label(metrics) if k == 0 else ''} | {name} | " + " | ".join(cells) + " |")
    return out


def table() -> str:
    """The markdown table of every split with a results file, in :data:`SPLITS` order."""
    header = "| split (test cells) | source | " + " | ".join(label for label, *_ in COLUMNS) + " |"
    lines = [header, "|" + "---|" * (len(COLUMNS) + 2)]
    for split in SPLITS:
        path = RESULTS / f"{split}.json"
        if path.exists():
            lines += rows(json.loads(path.read_text(encoding="utf-8")))
    return "\n".join(lines)


def slice_rows(metrics: dict[str, Any]) -> list[str]:
    """Within-slice rows of one split: model, slice base rate, oracle."""
    sources = {"**model**": metrics, "slice_base_rate": metrics["baselines"]["slice_base_rate"]}
    if "oracle" in metrics:
        sources["oracle"] = metrics["oracle"]
    out = []
    for k, (name, block) in enumerate(sources.items()):
        within = block["within_slices"]
        weighted = [number(within["positive_weighted"].get(key), 3) for key in ("auc", "auprc", "brier_skill", "f1")]
        scored = [s for s in within["per_slice"].values() if s["positive_cells_observed"] >= MIN_POSITIVES]
        decided = f"{sum(s['f1'] > 0 for s in scored)} / {len(scored)}"
        skilful = f"{sum(s['brier_skill'] > 0 for s in scored)} / {len(scored)}"
        out.append(f"| {split_label(metrics) if k == 0 else ''} | {name} | " + " | ".join(weighted)
                   + f" | {decided} | {skilful} |")
    return out


def slice_table() -> str:
    """Within-slice scores of every split (positive-weighted means; counts over slices with ≥ 10 positives)."""
    header = ("| split (test cells) | source | AUC within | AUPRC within | Brier skill | F1 (per-slice τ) "
              f"| slices F1 > 0 (≥ {MIN_POSITIVES} pos.) | slices Brier skill > 0 |")
    lines = [header, "|" + "---|" * 8]
    for split in SPLITS:
        path = RESULTS / f"{split}.json"
        if path.exists():
            lines += slice_rows(json.loads(path.read_text(encoding="utf-8")))
    return "\n".join(lines)


def fold_table() -> str:
    """One row per held-out slice of the leave-one-slice-out folds, and the count of ±30 % hits."""
    if not FOLDS.exists():
        return "(no leave-one-slice-out results yet: `bash docs/results.sh`)"
    result = json.loads(FOLDS.read_text(encoding="utf-8"))
    header = ("| held out | positive cells | predicted Σ p | oracle Σ p | predicted ≥ τ | AUC | oracle AUC | ECE "
              "| oracle ECE | Brier skill | F1 | oracle F1 | P(hit) | oracle P(hit) |")
    lines = [header, "|" + "---|" * 14]
    for row in result["rows"]:
        values = [str(row["positive_cells_observed"]), number(row["positive_cells_predicted"], 0),
                  number(row.get("oracle_positive_cells_predicted"), 0), str(row["predicted_positive_cells"])] + [
            number(row.get(key), 3) for key in ("auc", "oracle_auc", "ece", "oracle_ece", "brier_skill", "f1",
                                                "oracle_f1")] + [
            number(row.get(key), 2) for key in ("count_hit_probability", "oracle_count_hit_probability")]
        lines.append(f"| {row['slice']} | " + " | ".join(values) + " |")
    summary = result["summary"]
    oracle_hits = sum(abs(row["oracle_positive_cells_predicted"] / row["positive_cells_observed"] - 1) <= 0.3
                      for row in result["rows"] if row.get("oracle_positive_cells_predicted") is not None
                      and row["positive_cells_observed"] > 0)
    lines.append(f"\nPredicted number of positive cells (Σ p) within ±30 % of the observed in "
                 f"{summary['count_within_30_percent']} of {summary['folds']} folds (the oracle's: {oracle_hits}).")
    if "expected_count_hits" in summary:
        co_seismic = [row for row in result["rows"] if row["slice"].endswith("-co")]
        perfect = summary["oracle_expected_count_hits"] - sum(row["oracle_count_hit_probability"] for row in co_seismic)
        lines.append(f"P(hit): the chance that the predicted Σ p is a ±30 % hit of the count the truth draws "
                     f"(the mapped inventory is one draw). Expected hits over the truth's draws: "
                     f"{summary['expected_count_hits']:.1f} of {summary['folds']} for the model, "
                     f"{summary['oracle_expected_count_hits']:.1f} for the oracle"
                     + (f", {perfect:.1f} for a perfect model that cannot know the co-seismic slice's rate "
                        f"(no other slice has an earthquake)" if co_seismic else "") + ".")
    return "\n".join(lines)


def response_row(split: str, name: str, metrics: dict[str, Any]) -> str:
    """One row of the trigger-response comparison."""
    weighted = metrics["within_slices"]["positive_weighted"]
    per_slice = metrics["within_slices"]["per_slice"].values()
    predicted = sum(s["positive_cells_predicted"] for s in per_slice)
    observed = sum(s["positive_cells_observed"] for s in per_slice)
    values = [number(metrics["susceptibility"]["auc"], 3), number(weighted["auc"], 3),
              number(metrics["susceptibility"]["ece"], 3), number(predicted / observed if observed else None, 2),
              number(weighted["f1"], 3), number(metrics["density"].get("r_logit_vs_truth"), 3)]
    return f"| {split} | {name} | " + " | ".join(values) + " |"


def response_table() -> str:
    """The structured trigger response against the original all-channels network, split by split."""
    header = ("| split | susceptibility network | AUC | AUC within slices | ECE | Σ p / observed positives "
              "| F1 (per-slice τ) | R logit vs truth |")
    lines = [header, "|" + "---|" * 8]
    for split in SPLITS:
        pair = [(name, RESULTS / f"{split}{suffix}.json") for name, suffix in (("structured (default)", ""),
                                                                               ("network", "_network"))]
        if all(path.exists() for _, path in pair):
            lines += [response_row(split, name, json.loads(path.read_text(encoding="utf-8"))) for name, path in pair]
    return "\n".join(lines)


def cv_tables() -> str:
    """Every ``docs/results/cv_*.json`` (written by ``hazard cv``): its tables and where it comes from."""
    from hazardcore.cv import cv_table

    paths = sorted(RESULTS.glob("cv_*.json"))
    if not paths:
        return "(no cross-validation results yet: `bash docs/cv.sh`)"
    parts = []
    for path in paths:
        result = json.loads(path.read_text(encoding="utf-8"))
        rows, cols = result["region"]["cells"]
        parts.append(f"**{path.stem.removeprefix('cv_')}**: {rows} × {cols} cells × {len(result['region']['slices'])} "
                     f"slices; `{result['command']}`; {result['created'][:10]}, commit "
                     f"{result.get('commit', 'unknown')[:10]}, {result['machine']['cpus']} CPUs, "
                     f"{result['elapsed_s'] / 60:.0f} min.\n\n{cv_table(result)}")
    return "\n".join(parts).rstrip("\n")


def importance_table() -> str:
    """Permutation importance of the demo run's channel groups per season (``importance.json``)."""
    path = RESULTS / "importance.json"
    if not path.exists():
        return "(no importance result yet: run `hazard explain` on the spatial demo run)"
    result = json.loads(path.read_text(encoding="utf-8"))
    lines = ["| slices | test patches | group | AUC drop | 95 % range | R pos. drop | 95 % range |",
             "|---|---|---|---|---|---|---|"]
    for season, block in result["seasons"].items():
        groups = block["importance"]
        for name in sorted(groups, key=lambda g: -groups[g]["auc"]["mean"]):
            auc, r_positive = groups[name]["auc"], groups[name]["r_positive"]
            lines.append(f"| {season} | {block['patches']} | {name} | {number(auc['mean'], 3)} | "
                         f"[{number(auc['low'], 3)}, {number(auc['high'], 3)}] | {number(r_positive['mean'], 3)} | "
                         f"[{number(r_positive['low'], 3)}, {number(r_positive['high'], 3)}] |")
    if "effects" in result:
        lines += ["", "| slices | channel | 5th → 95th percentile | mean probability "
                      "| mean density given occurrence (%) |", "|---|---|---|---|---|"]
        for season, curves in result["effects"].items():
            for name, curve in curves.items():
                values, probability, density = curve["values"], curve["probability"], curve["density"]
                low, high = (0.0 if abs(v) < 1e-6 else v for v in (values[0], values[-1]))  # float noise of 0
                lines.append(f"| {season} | {name} ({CHANNEL_UNITS[name]}) | {low:.4g} → {high:.4g} | "
                             f"{number(probability[0], 3)} → {number(probability[-1], 3)} | "
                             f"{number(density[0], 2)} → {number(density[-1], 2)} |")
    lines.append(f"\nRun `{result['run_id']}`, {result['repeats']} permutations per group; baseline AUC "
                 + ", ".join(f"{season} {number(block['baseline']['auc'], 3)}"
                             for season, block in result["seasons"].items()) + ".")
    return "\n".join(lines)


def ensemble_table() -> str:
    """Skill, interval coverage and cost of the demo configuration as 1, 3 and 5 members (``ensemble.json``)."""
    path = RESULTS / "ensemble.json"
    if not path.exists():
        return "(no ensemble result yet: run `bash docs/ensemble.sh`)"
    result = json.loads(path.read_text(encoding="utf-8"))
    lines = ["| members differ in | K | AUC | ECE | R pos. | Σ hazard / Σ obs. | λ (density) "
             "| 90 % interval holds the true density (pos. cells) | … the true hazard (pos. cells) "
             "| … the true probability (all cells) | observed density in the central 90 % | CRPS (%) "
             "| training (min) | prediction (s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        cover = {name: row["uncertainty"].get(name, {}).get("coverage") for name in
                 ("density", "hazard", "susceptibility")}
        inflation = row["uncertainty"].get("density", {}).get("inflation")
        observed = row["uncertainty"].get("observed_density", {})
        predict = row["predict_seconds"]
        lines.append(f"| {row['kind']} | {row['members']} | {number(row['auc'], 3)} | "
                     f"{number(row['ece'], 3)} | {number(row['r_positive'], 3)} | "
                     f"{number(row['hazard_total_ratio'], 2)} | {number(inflation, 2)} | "
                     f"{number(cover['density'], 2)} | {number(cover['hazard'], 2)} | "
                     f"{number(cover['susceptibility'], 2)} | {number(observed.get('central_90_coverage'), 2)} | "
                     f"{number(observed.get('crps'), 3)} | {row['train_minutes']:.1f} | "
                     f"{predict['members'] + predict['combine']:.0f} |")
    each = "; ".join(f"{kind}: " + ", ".join(f"{value:.1f}" for value in runs.values())
                     for kind, runs in result.get("member_train_minutes", {}).items())
    lines.append(f"\nGenerated by `{result['command']}` on {result['date']} (commit {result['commit'][:10]}, "
                 f"{result['cpus']} CPUs); prediction time is the members' own plus the combining step; "
                 f"training minutes of the members in turn: {each}. {result.get('note', '')}".rstrip())
    return "\n".join(lines)


TABLES = {"importance": importance_table, "ensemble": ensemble_table, "results": table, "cv": cv_tables,
          "slices": slice_table, "folds": fold_table, "responses": response_table}


def rendered(readme: str) -> str:
    """``readme`` with the text between each pair of markers replaced by the current table."""
    for name, make in TABLES.items():
        begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
        if begin not in readme:
            continue
        head, rest = readme.split(begin, 1)
        _, tail = rest.split(end, 1)
        readme = f"{head}{begin}\n{make()}\n{end}{tail}"
    return readme


def main() -> None:
    """Rewrite the README's table (``--add SPLIT METRICS`` first copies a run's metrics.json in)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--add", nargs=2, metavar=("NAME", "JSON"),
                        help="a split's metrics.json, or leave_one_slice_out and its table")
    args = parser.parse_args()
    if args.add:
        name, source = args.add
        RESULTS.mkdir(exist_ok=True)
        if name.startswith("cv_"):
            from hazardcore.cli import source_commit

            result = json.loads(Path(source).read_text(encoding="utf-8"))
            stamped = result if result.get("commit", "unknown") != "unknown" else result | {"commit": source_commit()}
            (RESULTS / f"{name}.json").write_text(json.dumps(stamped, indent=2) + "\n", encoding="utf-8")
        else:
            shutil.copyfile(source, RESULTS / f"{name}.json")
    README.write_text(rendered(README.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    main()
