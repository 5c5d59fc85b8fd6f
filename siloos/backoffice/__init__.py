"""siloos.backoffice package."""
