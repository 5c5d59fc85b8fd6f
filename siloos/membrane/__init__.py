"""siloos.membrane package."""
