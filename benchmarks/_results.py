"""Recording benchmark results: marked sections of `benchmarks/RESULTS.md` and matplotlib bar charts.

Only a full run given `--save` (`wasmhive bench ... --save`, `python benchmarks/NAME.py --save`) rewrites its
own section between `<!-- NAME:begin -->` and `<!-- NAME:end -->` and its charts beside RESULTS.md, so
following the README never changes tracked files; the prose around the sections is written by hand.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"


def update_section(name: str, markdown: str, path: Path = RESULTS) -> None:
    """Replace (or append) the generated section `name` of RESULTS.md."""
    text = path.read_text() if path.is_file() else "# wasmhive benchmark results\n"
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{markdown.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _m: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def bar_chart(path: Path, title: str, groups: Sequence[str], series: dict[str, Sequence[float | None]],
              ylabel: str, log: bool = True) -> Path | None:
    """A grouped bar chart (one group per row, one bar per series); None if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(10, 4.8), dpi=110)
    n = max(1, len(series))
    width = 0.8 / n
    for i, (label, values) in enumerate(series.items()):
        xs = [g + (i - (n - 1) / 2) * width for g in range(len(groups))]
        ys = [v if v else 0.0 for v in values]
        bars = ax.bar(xs, ys, width, label=label)
        for bar, v in zip(bars, values, strict=True):
            if v:
                ax.annotate(_short(v), (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                            va="bottom", fontsize=6, rotation=90, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, fontsize=8)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _short(v: float) -> str:
    return f"{v:.3g}"
