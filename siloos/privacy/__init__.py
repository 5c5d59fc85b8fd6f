"""siloos.privacy package."""
