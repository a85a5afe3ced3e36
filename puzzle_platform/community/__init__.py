"""Community: cohorts with invites and private boards, and per-puzzle discussion."""
