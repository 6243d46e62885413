"""augment: new training images from the run's own (aspect squares, mirrors, crops, recompositions, AutoAugment, heavy augmentation)."""
