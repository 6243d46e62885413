"""The one training engine (:mod:`dcai.train.engine`: ``fit``, ``predict``, ``Trainer``), its augmentation,
pixel cache and Ray wiring (:mod:`dcai.train.pipeline`, the only module here that imports Ray)."""
