"""Training, export and evaluation of the amulet classifier (needs the ``train`` extra)."""
