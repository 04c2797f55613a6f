"""The model registry domain (spec 06 Part A): models, versions, their files, ONNX conversion
jobs, deployment recommendations and sharing. Versions are backed by MLflow's model registry.

Kept import-light on purpose: core.store.models imports `core.models.tables` so the registry's
tables join the one metadata; the service lives in core.models.service.
"""
