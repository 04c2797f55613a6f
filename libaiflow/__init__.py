"""libaiflow: hpcai's user-facing SDK (spec 12 §B).

On this branch it holds only the auto-tuning callbacks (libaiflow.integration.callback and the
product's spelling libaiflow.intergration.callback); experiment tracking is issue 6's part.
"""

__version__ = "0.1.0"
