"""siloos.cell package."""
