"""siloos.agent package."""
