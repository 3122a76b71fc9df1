"""The reference check: ``compare`` (two nets field by field) and ``replay`` (what the original recorded, rerun here)."""
