"""Framework integrations of auto-tuning: pruning callbacks (see .callback)."""
