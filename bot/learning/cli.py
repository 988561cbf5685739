"""The learning commands: `deskbot corrections`, `deskbot accuracy`, `deskbot retrain`, `deskbot model list|use`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bot.config.where import database_options

RETRAIN_DESCRIPTION = """\
Build a candidate model from the current training data ([learning] training_data, default the shipped
corpus) plus every ticket agents corrected or confirmed, score it beside the current model on the most
recent corrected or confirmed tickets neither learnt from ([learning] evaluate_last), print both side by
side, and save the candidate as a new version in the models folder ([learning] models). It becomes live
only with --apply (or [learning] auto_apply = true), and only when its score (the mean of department and
priority macro-F1) beats the current one by [learning] min_gain; a running daemon uses it from its next
ticket. `deskbot model use VERSION` switches to any saved version (`default`: the configured model)."""


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register corrections, retrain and model."""
    corrections = sub.add_parser("corrections", help="list what agents corrected (and confirmed) of deskbot's decisions",
                                 description="List corrections (a ticket whose department or priority agents changed "
                                 "after deskbot decided, or that was solved with other values) and confirmations "
                                 "(solved with deskbot's values unchanged), newest first. Reads only the database.")
    database_options(corrections)
    corrections.add_argument("--since", default="30d", help="a span back from now (48h, 30d, 12w) or a date "
                             "(default 30d)")
    corrections.add_argument("--kind", choices=("correction", "confirmation"), help="only this kind (default: both)")
    corrections.add_argument("--json", action="store_true", help="print one JSON object per line")
    corrections.set_defaults(handler=list_corrections)

    accuracy = sub.add_parser("accuracy", help="per week: agreement with agents, auto-route and review rates",
                              description="Per week of decision, from each ticket's latest correction or "
                              "confirmation: department and priority agreement (also per department and priority), "
                              "auto-route and review rates, and the share of high tickets deskbot filed low. Reads "
                              "only the database.")
    database_options(accuracy)
    accuracy.add_argument("--since", default="12w", help="a span back from now (48h, 30d, 12w) or a date (default 12w)")
    accuracy.add_argument("--json", action="store_true", help="print one JSON object per week")
    accuracy.set_defaults(handler=show_accuracy)

    retrain = sub.add_parser("retrain", help="build a candidate model from agents' corrections, compare, switch if better",
                             description=RETRAIN_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    retrain.add_argument("--config", type=Path, required=True, help="deskbot.toml")
    retrain.add_argument("--apply", action="store_true", help="make the candidate live when it is better by min_gain")
    retrain.set_defaults(handler=run_retrain)

    model = sub.add_parser("model", help="list the saved model versions, or switch (roll back) to one",
                           description="Model versions live in the models folder ([learning] models, default "
                           "models/ beside the config). A running daemon picks a switched model up for its next ticket.")
    actions = model.add_subparsers(title="commands", required=True, metavar="COMMAND")
    listing = actions.add_parser("list", help="every saved version; * marks the live one")
    listing.add_argument("--config", type=Path, required=True, help="deskbot.toml")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=list_models)
    use = actions.add_parser("use", help="make a saved version live (`default`: the configured or default model)")
    use.add_argument("version", help="a version name from `deskbot model list`, or default")
    use.add_argument("--config", type=Path, required=True, help="deskbot.toml")
    use.set_defaults(handler=use_model)


def list_corrections(args: argparse.Namespace) -> int:
    """`deskbot corrections`."""
    from bot.ops.admin import open_log
    from bot.learning.corrections import as_json, corrections_since
    from bot.learning.period import parse_since
    from bot.log.feedback import CONFIRMATION, CORRECTION
    from bot.ops.table import format_table

    store = open_log(args).store
    since = parse_since(args.since, store.now())  # type: ignore[attr-defined]
    kinds = (args.kind,) if args.kind else (CORRECTION, CONFIRMATION)
    found = corrections_since(store, since, kinds=kinds)  # type: ignore[arg-type]
    if args.json:
        for correction, ticket in found:
            print(json.dumps(as_json(correction, ticket), ensure_ascii=False))
        return 0
    print(format_table(("ticket", "when (UTC)", "source", "kind", "deskbot", "team", "channel"), [
        [t.reference or f"#{t.id}", f"{c.at:%Y-%m-%d %H:%M}", c.source, c.kind,
         f"{c.deskbot_department}/{c.deskbot_priority or '-'}", f"{c.team_department or '?'}/{c.team_priority or '?'}",
         c.channel] for c, t in found]))
    return 0


def show_accuracy(args: argparse.Namespace) -> int:
    """`deskbot accuracy`."""
    from bot.ops.admin import open_log
    from bot.learning.period import parse_since
    from bot.ops.table import format_table
    from bot.report.facts import gather

    store = open_log(args).store
    now = store.now()  # type: ignore[attr-defined]
    weeks = gather(store, parse_since(args.since, now) or now, now).accuracy  # type: ignore[arg-type]
    if args.json:
        for week in weeks:
            print(json.dumps(week, ensure_ascii=False))
        return 0

    def rate(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    print(format_table(("week", "tickets", "auto-routed", "review", "labelled", "department agreement",
                        "priority agreement", "high filed low"),
                       [[w["week"], w["tickets"], rate(w["auto_route_rate"]), rate(w["review_rate"]), w["labelled"],
                         rate(w["department_agreement"]), rate(w["priority_agreement"]),
                         rate(w["high_predicted_low_rate"])] for w in weeks]))
    return 0


def _learning(path: Path) -> tuple[Any, Any]:
    from bot.config.file import load_config
    from bot.learning.registry import ModelRegistry

    config = load_config(path, secrets=False)
    return config, ModelRegistry(config.resolve(config.learning.models) or Path("models"))


def run_retrain(args: argparse.Namespace) -> int:
    """`deskbot retrain`."""
    from bot.daemon import live_classifier
    from bot.learning.retrain import compare, format_verdict
    from bot.log.store import Store

    config, registry = _learning(args.config)
    store = Store.open(config.database_url())
    current = live_classifier(config).current()  # type: ignore[attr-defined]
    files = [config.resolve(f) for f in config.learning.training_data]
    candidate, verdict = compare(store, current, files, evaluate_last=config.learning.evaluate_last,
                                 min_gain=config.learning.min_gain)
    print(format_verdict(verdict, current.version, candidate.version))
    saved = registry.add(candidate)
    print(f"\ncandidate saved as {saved.name} in {registry.folder}")
    if not (args.apply or config.learning.auto_apply):
        print("not switched (dry run): add --apply, or set [learning] auto_apply = true")
        return 0
    if not verdict.better:
        print(f"refused: the candidate is not better than the current model by min_gain {verdict.min_gain:.3f}; "
              f"the current model stays live (`deskbot model use {saved.name}` switches anyway)")
        return 1 if args.apply else 0
    registry.use(saved.name)
    print(f"switched: {saved.name} is live; a running daemon uses it from its next ticket "
          f"(roll back with `deskbot model use {current.version if registry.current_name() else 'default'}`)")
    return 0


def list_models(args: argparse.Namespace) -> int:
    """`deskbot model list`."""
    _, registry = _learning(args.config)
    live = registry.current_name()
    versions = registry.versions()
    if args.json:
        print(json.dumps({"current": live or "default", "versions": [
            {"version": v.name, "created_at": v.created_at, "training_tickets": v.training_tickets,
             "learning": v.learning, "current": v.name == live} for v in versions]}, indent=2))
        return 0
    print(("  default (the configured or shipped model)" if live else "* default (the configured or shipped model)"))
    for v in versions:
        score = v.learning.get("score")
        detail = f"{v.learning.get('labelled_tickets', 0)} labelled tickets" + (f", score {score}" if score else "")
        print(f"{'*' if v.name == live else ' '} {v.name}  {v.created_at}  {detail}")
    return 0


def use_model(args: argparse.Namespace) -> int:
    """`deskbot model use VERSION`."""
    _, registry = _learning(args.config)
    registry.use(args.version)
    print(f"{args.version} is live; a running daemon uses it from its next ticket")
    return 0
