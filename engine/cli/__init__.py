"""The `segue` command line."""
