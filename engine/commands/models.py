"""``python -m engine models [add PATH | remove NAME]``: list, register and unregister models.

Without a subcommand: the registered models as a JSON list on stdout. ``add`` verifies that a
checkpoint loads and writes a card that refers to it in the user's models folder; ``remove``
deletes such a card (see :mod:`engine.models.user_models`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from engine.progress import Done, Log, ProgressCallback

HELP = ("list the registered models as JSON (name, family, bands, scales, file, demonstration); "
        "'add PATH' / 'remove NAME' register or unregister a checkpoint")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--check", action="store_true",
                   help="also report whether each model's weights file is present")
    sub = p.add_subparsers(dest="action", metavar="{add,remove}")
    add = sub.add_parser("add", help="verify that a checkpoint loads and register it by name "
                                     "in the user's models folder (the file is not copied)")
    add.add_argument("path", metavar="PATH", help="checkpoint file (.pth, .ckpt, .pt, .onnx)")
    add.add_argument("--name", default=None,
                     help="name to register (default: the file name without its suffix)")
    add.add_argument("--config", default=None, metavar="YAML",
                     help="config of checkpoints that need one (reduced-width LDCSR)")
    remove = sub.add_parser("remove", help="unregister a model added with 'models add' (the "
                                           "checkpoint file is kept)")
    remove.add_argument("name", metavar="NAME")
    for parser in (add, remove):
        # Accepted after the subcommand too; SUPPRESS keeps the value given before it.
        parser.add_argument("--progress", choices=("json", "text", "none"),
                            default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def run(args: argparse.Namespace, progress: ProgressCallback) -> Done | None:
    if args.action == "add":
        return _add(args, progress)
    if args.action == "remove":
        return _remove(args, progress)
    from engine.models.registry import list_models

    items = []
    for card in list_models():
        item = card.to_json()
        if args.check:
            item["available"] = card.file.is_file()
        items.append(item)
    # The list is the command's output (stdout), in every progress mode.
    _print(items, indent=None if args.progress == "json" else 2)
    return None


def _add(args: argparse.Namespace, progress: ProgressCallback) -> Done:
    from engine.models.user_models import add_model

    start = time.perf_counter()
    path, card = add_model(args.path, name=args.name, config=args.config)
    progress(Log(f"registered '{card['name']}' ({card['family']}, {card['bands']} band(s), "
                 f"x{card['scales'][0]:g} to x{card['scales'][1]:g}) in {path}"))
    if args.progress != "json":
        _print(card)  # one JSON line; in JSON mode the done event carries it
    return Done(output=str(path), seconds=time.perf_counter() - start, results={"card": card})


def _remove(args: argparse.Namespace, progress: ProgressCallback) -> Done:
    from engine.models.user_models import remove_model

    start = time.perf_counter()
    path = remove_model(args.name)
    progress(Log(f"removed '{args.name}' ({path}); its checkpoint file is kept"))
    return Done(output=None, seconds=time.perf_counter() - start,
                results={"removed": args.name, "card_file": str(path)})


def _print(data: object, indent: int | None = None) -> None:
    sys.stdout.write(json.dumps(data, indent=indent) + "\n")
    sys.stdout.flush()
