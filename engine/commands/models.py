"""``python -m engine models``: the registered models as a JSON list on stdout."""

from __future__ import annotations

import argparse
import json
import sys

from engine.progress import Done, ProgressCallback

HELP = "list the registered models as JSON (name, family, bands, scales, file)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--check", action="store_true",
                   help="also report whether each model's weights file is present")


def run(args: argparse.Namespace, progress: ProgressCallback) -> Done | None:
    from engine.models.registry import list_models

    items = []
    for card in list_models():
        item = card.to_json()
        if args.check:
            item["available"] = card.file.is_file()
        items.append(item)
    # The list is the command's output (stdout), in every progress mode.
    sys.stdout.write(json.dumps(items, indent=None if args.progress == "json" else 2) + "\n")
    sys.stdout.flush()
    return None
