"""Registry of compute recipes: what a figure specification (recipe name + params) may say.

Torch-free on purpose: the web process imports this to validate puzzle files. The code that
runs a recipe lives in `puzzle_platform.worker` and is named here only as an import-path
string (`RecipeSpec.runner`), resolved by the worker.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

from ._spec import RecipeError, RecipeSpec
from .ablation import SPEC as _ABLATION
from .activation_stats import SPEC as _ACTIVATION_STATS
from .attention_heads import SPEC as _ATTENTION_HEADS
from .embedding_cosine import SPEC as _EMBEDDING_COSINE
from .embedding_neighbors import SPEC as _EMBEDDING_NEIGHBORS
from .logit_attribution import SPEC as _LOGIT_ATTRIBUTION
from .logit_lens import SPEC as _LOGIT_LENS
from .weight_spectrum import SPEC as _WEIGHT_SPECTRUM

RECIPES: Mapping[str, RecipeSpec] = MappingProxyType({
    spec.name: spec for spec in (_EMBEDDING_COSINE, _ACTIVATION_STATS, _ATTENTION_HEADS, _LOGIT_LENS,
                                 _LOGIT_ATTRIBUTION, _ABLATION, _WEIGHT_SPECTRUM, _EMBEDDING_NEIGHBORS)
})


def recipe_names() -> tuple[str, ...]:
    """Known recipe names, sorted (for error messages and listings)."""
    return tuple(sorted(RECIPES))


def get_recipe(name: str) -> RecipeSpec:
    """The spec named `name`; RecipeError naming the known recipes otherwise."""
    try:
        return RECIPES[name]
    except (KeyError, TypeError):
        raise RecipeError(f"unknown recipe {name!r}; known: {', '.join(recipe_names())}") from None


__all__ = ["RECIPES", "RecipeError", "RecipeSpec", "get_recipe", "recipe_names"]
