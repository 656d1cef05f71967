"""What a logged model runs without this repository: the pyfunc clock reader (it must not import `pipeline`)."""
