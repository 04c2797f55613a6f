"""Tests of development environments (issue 17)."""
