"""Reinforcement learning (issue 20): algorithms, simulation environments, the job-side trainer."""
