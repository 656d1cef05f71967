"""The one place that talks to MLflow: runs and what they log, the model registry, and reuse of finished steps."""
