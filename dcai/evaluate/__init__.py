"""``dcai evaluate``: the competition's fixed model trained over seeds; val / test accuracy mean ± std."""
