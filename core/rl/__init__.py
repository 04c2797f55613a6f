"""Reinforcement learning (issue 20): the algorithm table and training-spec validation so far."""
