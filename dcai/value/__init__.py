"""The value stage: each training image's influence on held-out validation loss (TracIn, via Captum)."""
