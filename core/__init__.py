"""hpcai core: domain types, hook specifications, plugin manager, store and job lifecycle.

The core knows no concrete framework, scheduler, runtime or service: those are plugins.
"""

__version__ = "0.1.0"
