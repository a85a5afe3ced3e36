"""Recipe runners (torch allowed): `run(params, progress) -> artifact` per recipe in
`puzzle_platform.recipes`, reached through `RecipeSpec.runner`."""
