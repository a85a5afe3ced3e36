"""Puzzle content: puzzle folders (read, validated, synced, written back), web authoring, and
what a puzzle page shows a viewer."""
