"""siloos.record package."""
