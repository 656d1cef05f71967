"""The study's steps, its data layer, and the one module that talks to MLflow (`tracking`)."""
