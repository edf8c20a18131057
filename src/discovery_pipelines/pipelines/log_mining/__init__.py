"""``log_mining``: simulate (or read) search events and mine Wilson-bound training pairs from them."""
