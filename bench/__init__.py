"""Benchmarks and the fault matrix: programs that print figures, never asserted in tests."""
