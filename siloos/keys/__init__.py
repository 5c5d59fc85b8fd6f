"""siloos.keys package."""
