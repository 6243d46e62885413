"""The embed stage: a supervised-contrastive embedding, out of fold, and a kNN vote over it."""
