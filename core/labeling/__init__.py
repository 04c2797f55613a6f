"""Data labeling (spec 05 §5, F182-F198): tasks over media datasets, sub-tasks, assignments,
reviews with a sampling policy, items and their annotations.

`service.LabelingService` holds every rule; `rules` the state machine and who may do what;
templates and exporters are plugins (`api`). Kept import-light: core.plugins imports `api`.
"""
