"""Grading: what a scholar typed, the attempt log, ground truth, the scoring state derived from
them, leaderboards, mentors' overrides and calibration. Below content, community and jobs;
above access and models."""
