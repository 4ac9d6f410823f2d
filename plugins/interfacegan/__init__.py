"""InterFaceGAN: editing along SVM boundaries in W, and fitting them (genforce/interfacegan)."""
