"""Training recipes, run from a checkout: ``python -m train teacher|student ...``."""
