"""Scorers (metrics) and statistics (stats) shared by lab graders and benchmarks."""
