"""siloos.llm package."""
