"""The operator API: what the dashboard and the CLI read and do, on top of the store's operator methods."""
