"""Access: who is asking (sessions, API tokens, roles), which puzzles they may see, rate
limits, login throttling and password rules."""
