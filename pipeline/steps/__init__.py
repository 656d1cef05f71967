"""The entry points of the MLproject, one module each: `python -m pipeline.steps.<name>`."""
