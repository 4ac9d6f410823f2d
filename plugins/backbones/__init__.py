"""Backbone networks shared by the built-in face plugins.

Written without torchvision, with the parameter names of the official
checkpoints so that their state dicts load unchanged:

- `resnet`: torchvision's ResNet (``conv1``, ``bn1``, ``layer1.0.conv1``,
  ``layer1.0.downsample.0``...), used by the smooth identity embedder and
  Deep3DFaceRecon's coefficient regressor;
- `irse`: the IR-SE ArcFace backbone of TreB1eN/InsightFace_Pytorch, as used
  by pSp, e4e and PTI for their identity loss (``model_ir_se50.pth``);
- `iresnet`: insightface's arcface_torch iresnet (``backbone.pth``).

Each takes its stage widths and depths from arguments, so tests can build
tiny versions; the defaults are the published architectures.
"""
