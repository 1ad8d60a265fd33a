"""``aiguillage router train|eval``: the thin CLI edge over ``aiguillage.routing``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress

from aiguillage.config import ConfigError, load_settings
from aiguillage.routing.artifact import ArtifactError, load_artifact, save_artifact
from aiguillage.routing.cascade import train_cascade
from aiguillage.routing.evaluate import cost_model, plot, report, score_table
from aiguillage.routing.learned import train_learned
from aiguillage.routing.outcomes import (
    OutcomeFormatError,
    contamination_lists_near,
    load_contaminated,
    load_outcomes,
)

app = typer.Typer(help="Train and evaluate routers from outcome data (see docs/routing.md).", no_args_is_help=True)
err = Console(stderr=True)


def _load(data: list[Path], contaminated: list[Path] | None, quiet: bool):
    lists = contaminated if contaminated is not None else contamination_lists_near(data)
    drop = load_contaminated(lists) if lists else set()
    table = load_outcomes(data, drop)
    if not quiet:
        names = ", ".join(p.name for p in lists) or "none"
        err.print(f"{len(table)} rows from {len(data)} file(s); contaminated-prompt lists used: {names}")
    return table


@app.command()
def train(
    data: Annotated[list[Path], typer.Argument(help="Outcome CSV file(s)")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the router artifact")],
    strategy: Annotated[str, typer.Option(help="learned | cascade")] = "learned",
    contaminated: Annotated[
        list[Path] | None, typer.Option(help="JSONL of prompts to drop (default: *_contaminated_prompts.jsonl nearby)")
    ] = None,
) -> None:
    """Learn from every outcome column present and write an artifact for RouterSpec.artifact."""
    if strategy not in ("learned", "cascade"):
        raise typer.BadParameter("use --strategy learned or --strategy cascade", param_hint="--strategy")
    try:
        table = _load(data, contaminated, quiet=False)
        with Progress(console=err, transient=True) as bar:
            task = bar.add_task(f"training {strategy}", total=None)

            def step(msg: str) -> None:
                bar.update(task, description=f"training {strategy}: {msg}")

            trainer = train_learned if strategy == "learned" else train_cascade
            meta, model = trainer(table, progress=step)
    except (OutcomeFormatError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    version = save_artifact(out, meta, model)
    err.print(f"wrote {out} (strategy {strategy}, version {version}, columns: {', '.join(meta['columns'])})")


@app.command("eval")
def evaluate(
    router: Annotated[Path, typer.Argument(help="Router artifact from 'router train'")],
    data: Annotated[list[Path], typer.Argument(help="Outcome CSV file(s) to evaluate on")],
    weak: Annotated[str, typer.Option(help="Outcome column of the weak (cheap) model")],
    strong: Annotated[str, typer.Option(help="Outcome column of the strong model")],
    scores_out: Annotated[Path, typer.Option("--scores-out", help="CSV with prompt,score for every row")],
    config: Annotated[Path | None, typer.Option(help="Gateway config whose catalog prices give the saving")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as one JSON object")] = False,
    plot_to: Annotated[Path | None, typer.Option("--plot", help="PNG of the quality-cost curve")] = None,
    contaminated: Annotated[
        list[Path] | None, typer.Option(help="JSONL of prompts to drop (default: *_contaminated_prompts.jsonl nearby)")
    ] = None,
) -> None:
    """Score every row, write the scores, print APGR, CPT(50%), CPT(80%) and the 95%-quality share."""
    try:
        meta, model = load_artifact(router)
        # Every input row is scored and written; contaminated prompts only leave the metrics.
        lists = contaminated if contaminated is not None else contamination_lists_near(data)
        drop = load_contaminated(lists) if lists else set()
        table = load_outcomes(data)
        table.require(weak), table.require(strong)
        kept = [i for i, p in enumerate(table.prompts) if p not in drop]
        if not as_json:
            err.print(f"{len(table)} rows; {len(table) - len(kept)} contaminated prompt(s) left out of the metrics")
        settings = load_settings(config) if config else None
        with Progress(console=err, transient=True, disable=as_json) as bar:
            task = bar.add_task("scoring", total=len(table))
            extra: dict[str, Any] = {}
            scores = score_table(meta, model, table, weak, strong, tick=lambda k: bar.advance(task, k), extra=extra)
        clean, clean_scores = table.subset(kept), scores[kept]
        costs = cost_model(settings, clean, weak, strong, meta["strategy"] == "cascade") if settings else None
        result = report(clean_scores, clean, weak, strong, costs)
    except (ArtifactError, ConfigError, OutcomeFormatError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    with scores_out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        names = sorted(extra)
        w.writerow(["prompt", "score", *names])
        w.writerows((p, f"{s:.6f}", *(f"{extra[n][i]:.6f}" for n in names))
                    for i, (p, s) in enumerate(zip(table.prompts, scores)))
    result = {"strategy": meta["strategy"], "router_version": meta["version"], **result}
    if plot_to:
        plot(plot_to, clean_scores, clean.outcomes[weak], clean.outcomes[strong],
             f"{meta['strategy']} router ({len(clean)} prompts)", label=meta["strategy"])
    if as_json:
        typer.echo(json.dumps(result))
        return
    for k, v in result.items():
        typer.echo(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}")
