"""siloos.store package."""
