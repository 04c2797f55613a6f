"""Pipelines (the visual designer's domain): documents, the component catalog, the engine that
runs a document as scheduler jobs, and the job-side runner. Depends on narrow interfaces of the
core (a plugin manager, a job-submission callable, the store), never on core.platform."""
