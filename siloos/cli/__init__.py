"""The `silo` command line."""
