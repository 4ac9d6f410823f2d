"""StyleNeRF (Gu et al., ICLR 2022): a 3D-aware generator, rendered from any camera."""
