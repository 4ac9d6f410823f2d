"""StyleGAN2: the generator, its official-checkpoint converters and the ``generate`` support."""
