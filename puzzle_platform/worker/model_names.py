"""Regenerate the bundled allow-list of hub models from the installed TransformerLens.

The web process must not import transformer_lens (it imports torch), so the default list of
allowed hub names is a data file in the torch-free recipes package; this writes it, and a
worker test checks it still matches the installed version:

    python -m puzzle_platform.worker.model_names
"""
from __future__ import annotations

import json
from importlib.metadata import version

from ..recipes.sources import NAMES_FILE


def current_names() -> dict:
    """{transformer_lens, official, aliases} as the installed TransformerLens defines them."""
    from transformer_lens.supported_models import MODEL_ALIASES, OFFICIAL_MODEL_NAMES

    return {"transformer_lens": version("transformer-lens"),
            "official": sorted(OFFICIAL_MODEL_NAMES),
            "aliases": {name: list(MODEL_ALIASES[name]) for name in sorted(MODEL_ALIASES)}}


def main() -> None:
    NAMES_FILE.write_text(json.dumps(current_names(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {NAMES_FILE.name}")


if __name__ == "__main__":
    main()
