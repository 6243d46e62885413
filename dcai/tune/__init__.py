"""tune: a Ray Tune (or local) search over the augmentation policy, scored by the fixed model with ASHA."""
