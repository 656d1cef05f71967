"""Developer tools: the structure check, the services script and its Python handle, sample data, the contact sheet."""
