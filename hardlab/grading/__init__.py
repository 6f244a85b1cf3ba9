"""Grading students' submissions with the scenarios, on real containers."""
