"""`crmmigrate dedupe`: find and merge duplicate accounts and contacts; `dedupe review`: decide
the uncertain pairs in the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from typer.core import TyperGroup

from crmmigrate.cli.common import ConfigOpt, Verbose, config_datasets, configured, handles_errors
from crmmigrate.cli.outputs import guard_outputs
from crmmigrate.cli.terminal import console
from crmmigrate.cli.terminal.dedupe import dedupe_summary
from crmmigrate.dedupe import dedupe, load_dedupe_rules, read_decisions, write_outputs
from crmmigrate.dedupe.review import DEFAULT_DECISIONS, open_review, record_decision
from crmmigrate.model import MODEL


class _FindByDefault(TyperGroup):
    """`crmmigrate dedupe DATASET...` is `crmmigrate dedupe find DATASET...`."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:  # type: ignore[no-untyped-def]
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["find", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_FindByDefault, no_args_is_help=True,
                  help="Find and merge duplicate accounts and contacts: `crmmigrate dedupe DATASET... -o DIR`; "
                       "decide the uncertain pairs with `crmmigrate dedupe review`.")

# What `dedupe find` writes into its folder (write_outputs): checked against its inputs first.
_FOLDER_FILES = (*(f"{entity}.csv" for entity in MODEL.names), "clusters.csv", "pairs.csv", "review.csv",
                 "merged.csv", "lead_matches.csv", "summary.json", "report.html")

DecisionsOpt = Annotated[
    Path,
    typer.Option("--decisions", help="Review decisions (CSV): applied on every run, appended to by review."),
]


@app.command("find")
@handles_errors
def find(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the results.")],
    datasets: Annotated[
        list[str] | None,
        typer.Argument(metavar="DATASET...", help="Canonical datasets written by `crmmigrate map` or `clean`, or "
                       "MAPPING=SOURCE. Give the children too (contacts, opportunities, cases...): their pointers "
                       "to merged records are re-pointed to the survivors. With --config and none: every source "
                       "of it, extracted, mapped and cleaned as `run` does.", show_default=False),
    ] = None,
    rules: Annotated[Path | None, typer.Option("--rules", help="Match rules [default: rules/dedupe.yaml].")] = None,
    decisions: Annotated[
        Path | None,
        typer.Option("--decisions", help="Review decisions (CSV): applied on every run, appended to by review "
                     "[default: dedupe-decisions.csv, or the config's decisions]."),
    ] = None,
    config: ConfigOpt = None,
    verbose: Verbose = False,
) -> None:
    """Score candidate pairs, merge those above the merge band into clusters (guarded against
    chaining), build each cluster's surviving record, re-point every pointer to a merged record
    and write, in OUTPUT: each dataset deduplicated (<entity>.csv), clusters.csv, pairs.csv (with
    per-field evidence), review.csv (the uncertain pairs), merged.csv, summary.json and report.html
    (for people: the fitted model, the match weights, the biggest clusters, the warnings)."""
    migration = configured(config, datasets)
    if migration is not None:  # options given on the command line win over the config's files
        rules, decisions = rules or migration.dedupe, decisions or migration.decisions
    decisions = decisions or Path(DEFAULT_DECISIONS)
    guard_outputs({f"--output (its {name})": output / name for name in _FOLDER_FILES},
                  inputs=[*(datasets or []), rules, decisions], replaceable=())
    spec, decided = load_dedupe_rules(rules), read_decisions(decisions)
    with config_datasets(migration, datasets) as (found, said), console.progress() as progress:
        result = dedupe(found, spec, decisions=decided, progress=progress)
    for text in said:
        console.note(text)
    files = write_outputs(result, output)
    dedupe_summary(result, files)


@app.command("review")
@handles_errors
def review(
    pairs: Annotated[Path, typer.Argument(metavar="REVIEW_CSV", help="review.csv (or pairs.csv) from a dedupe.")],
    decisions: DecisionsOpt = Path(DEFAULT_DECISIONS),
    verbose: Verbose = False,
) -> None:
    """Show each undecided pair side by side with its per-field evidence and ask: [m]erge,
    keep [a]part, [s]kip, [q]uit. Every answer is appended to the decisions file at once, and
    every later dedupe applies it."""
    queue = open_review(pairs, decisions)
    console.out.print(f"{len(queue.todo)} pair(s) to review ({queue.decided} decided already); "
                      f"decisions go to {decisions}")
    counts = {"merge": 0, "apart": 0, "skip": 0}
    for number, pair in enumerate(queue.todo, 1):
        table = Table(title=f"{number}/{len(queue.todo)}  {pair['entity']}  match probability {float(pair['probability']):.3f}"
                      + (f"  ({pair['why']})" if pair.get("why") else ""))
        table.add_column("field")
        table.add_column(f"{pair['source_a']} {pair['id_a']}")
        table.add_column(f"{pair['source_b']} {pair['id_b']}")
        table.add_column("evidence")
        for name in queue.fields:
            table.add_row(name, pair[f"{name}_a"], pair[f"{name}_b"], pair[name])
        console.out.print(table)
        answer = typer.prompt("[m]erge, keep [a]part, [s]kip, [q]uit", default="s").strip().casefold()[:1]
        if answer == "q":
            break
        choice = {"m": "merge", "a": "apart"}.get(answer, "skip")
        counts[choice] += 1
        if choice != "skip":
            record_decision(decisions, pair, choice)
    console.out.print(f"merge {counts['merge']}, apart {counts['apart']}, skipped {counts['skip']}; "
                      f"rerun dedupe (or the migration) to apply them")

