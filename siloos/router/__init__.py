"""siloos.router package."""
