"""Demo data and the seeding code (``python -m seed``)."""
