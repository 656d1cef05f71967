"""The Optuna search of Task 1: its space, its study and storage, what a trial trains, and the worker processes."""
