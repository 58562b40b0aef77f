"""Write the README's results table from the metrics files in ``docs/results/``.

Each ``docs/results/<split>.json`` is the ``metrics.json`` of a demo run (default region,
seed 42, demo configuration) trained with that split (its ``run_id`` and ``split_config``
say which). ``python docs/results.py`` rewrites the table between the
README's ``<!-- results:begin -->`` and ``<!-- results:end -->`` markers;
``tests/test_docs_results.py`` fails when the committed README differs from what this
script writes, so no number in the table is typed by hand.

To refresh the files after a change of the model: ``bash docs/results.sh`` (the demo, the
three other splits on its working folder, then this script).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
RESULTS = DOCS / "results"
README = DOCS.parent / "README.md"
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
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


def rendered(readme: str) -> str:
    """``readme`` with the text between the markers replaced by the current table."""
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def main() -> None:
    """Rewrite the README's table (``--add SPLIT METRICS`` first copies a run's metrics.json in)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--add", nargs=2, metavar=("SPLIT", "METRICS_JSON"))
    args = parser.parse_args()
    if args.add:
        split, source = args.add
        RESULTS.mkdir(exist_ok=True)
        shutil.copyfile(source, RESULTS / f"{split}.json")
    README.write_text(rendered(README.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    main()
