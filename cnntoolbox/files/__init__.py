"""What the package writes to disk: ``atomic.write``, complete or not at all."""
