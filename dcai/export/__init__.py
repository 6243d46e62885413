"""export: the class-folder layout (``OUT/train/<label>/``, ``OUT/val/<label>/``) under a size cap."""
