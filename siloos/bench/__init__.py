"""siloos.bench package."""
