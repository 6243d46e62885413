"""The one training engine (:mod:`dcai.train.engine`: ``fit``, ``predict``, ``Trainer``), its augmentation,
pixel cache, the out-of-fold helpers the label stages share (``crossfit``, ``oof``, ``inputs``) and its Ray
wiring (:mod:`dcai.train.pipeline`, the only module here that imports Ray)."""
