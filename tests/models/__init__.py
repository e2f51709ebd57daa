"""Model definitions for the import tests."""
