"""face-api's two face detectors: the tiny face detector and SSD MobileNet v1.

Ports of ``src/tinyFaceDetector/`` + ``src/tinyYolov2/`` (a YOLOv2-style
grid of 5 anchors over separable convolutions, input 416² by default) and
``src/ssdMobilenetv1/`` (MobileNet v1 with six SSD box predictors, 5118
anchors, input 512²) in vladmandic/face-api, including their box decoding and
non-maximum suppression, so detections match the original's.

Both take one ``(3, H, W)`` image in ``[-1, 1]``, pad it to a square at the
bottom/right and resize it the way face-api does, and return boxes
``(K, 4)`` as ``(left, top, right, bottom)`` in pixels of the input image with
scores ``(K,)``, most confident first.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import ConvParams, SeparableConvParams
from .ops import conv2d_same, leaky_relu, max_pool_same, network_input, to_face_api_pixels

# src/tinyFaceDetector/const.ts
TINY_ANCHORS = ((1.603231, 2.094468), (6.041143, 7.080126), (2.882459, 3.518061), (4.266906, 5.178857), (9.041765, 10.66308))
TINY_MEAN_RGB = (117.001, 114.697, 97.404)
TINY_IOU_THRESHOLD = 0.4
SSD_INPUT_SIZE = 512
SSD_IOU_THRESHOLD = 0.5
SSD_BATCH_NORM_EPSILON = 0.0010000000474974513


def _reshaped_size(height: int, width: int, size: int) -> tuple[int, int]:
    """Size of the image inside the square network input (``computeReshapedDimensions``)."""
    scale = size / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def _empty() -> tuple[Tensor, Tensor]:
    return torch.zeros(0, 4), torch.zeros(0)


def _iou(box: Tensor, others: Tensor) -> Tensor:
    """IoU of one ``(4,)`` box with ``(K, 4)`` boxes, all ``(x0, y0, x1, y1)``."""
    width = (torch.minimum(box[2], others[:, 2]) - torch.maximum(box[0], others[:, 0])).clamp(min=0)
    height = (torch.minimum(box[3], others[:, 3]) - torch.maximum(box[1], others[:, 1])).clamp(min=0)
    inter = width * height
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(union))


def greedy_nms(boxes: Tensor, scores: Tensor, iou_threshold: float, max_results: int | None = None) -> Tensor:
    """Indices kept by greedy non-maximum suppression, best first (``src/ops/nonMaxSuppression.ts``)."""
    order = torch.argsort(scores, descending=True, stable=True)
    keep: list[int] = []
    while order.numel() and (max_results is None or len(keep) < max_results):
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        order = rest[_iou(boxes[best], boxes[rest]) <= iou_threshold]
    return torch.tensor(keep, dtype=torch.long)


class TinyFaceDetector(nn.Module):
    """The tiny face detector (tiny YOLOv2 with separable convolutions, 1.9 MB)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv0 = ConvParams(3, 16, 3)
        for index, (cin, cout) in enumerate(((16, 32), (32, 64), (64, 128), (128, 256), (256, 512)), start=1):
            self.add_module(f"conv{index}", SeparableConvParams(cin, cout))
        self.conv8 = ConvParams(512, len(TINY_ANCHORS) * 5, 1)

    def forward(self, images: Tensor) -> Tensor:
        """Raw grid ``(N, 25, S/32, S/32)`` of ``(N, 3, S, S)`` network inputs in ``[-1, 1]``."""
        x = to_face_api_pixels(images, TINY_MEAN_RGB)
        x = leaky_relu(self.conv0.valid(x))
        for index in range(1, 6):
            x = leaky_relu(getattr(self, f"conv{index}")(max_pool_same(x, 2, 2)))
        x = max_pool_same(x, 2, 1)
        return self.conv8.valid(x)

    @torch.no_grad()
    def detect(self, image: Tensor, input_size: int = 416, min_score: float = 0.5) -> tuple[Tensor, Tensor]:
        """Boxes ``(K, 4)`` in pixels and scores ``(K,)`` of one ``(3, H, W)`` image.

        ``input_size``: side of the network input, a multiple of 32 (face-api's
        default 416; smaller is faster and misses small faces).
        """
        height, width = image.shape[-2:]
        grid = self(network_input(image, input_size, centered=False)[None])[0]  # (25, cells, cells)
        cells = grid.shape[-1]
        grid = grid.view(len(TINY_ANCHORS), 5, cells, cells).float()
        scores = torch.sigmoid(grid[:, 4])
        anchor, row, col = torch.nonzero(scores > min_score, as_tuple=True)
        if anchor.numel() == 0:
            return _empty()
        reshaped_height, reshaped_width = _reshaped_size(height, width, input_size)
        correction_x, correction_y = input_size / reshaped_width, input_size / reshaped_height
        tx, ty, tw, th = (grid[anchor, field, row, col] for field in range(4))
        anchors = torch.tensor(TINY_ANCHORS, dtype=grid.dtype)[anchor]
        center_x = (col + torch.sigmoid(tx)) / cells * correction_x
        center_y = (row + torch.sigmoid(ty)) / cells * correction_y
        box_width = torch.exp(tw) * anchors[:, 0] / cells * correction_x
        box_height = torch.exp(th) * anchors[:, 1] / cells * correction_y
        left, top = center_x - box_width / 2, center_y - box_height / 2
        relative = torch.stack([left, top, left + box_width, top + box_height], dim=1)
        found = scores[anchor, row, col]
        keep = greedy_nms(relative, found, TINY_IOU_THRESHOLD)
        scale = torch.tensor([width, height, width, height], dtype=relative.dtype)
        return relative[keep] * scale, found[keep]


class PointwiseConv(nn.Module):
    """1×1 (or 3×3) convolution + ``convolution_bn_offset`` + ReLU6 (``pointwiseConvLayer``)."""

    def __init__(self, in_channels: int, out_channels: int, size: int = 1) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.randn(out_channels, in_channels, size, size) * (2 / (in_channels * size * size)) ** 0.5)
        self.convolution_bn_offset = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: Tensor, stride: int = 1) -> Tensor:
        return conv2d_same(x, self.weights, self.convolution_bn_offset, stride).clamp(0, 6)


class BatchNorm(nn.Module):
    """TensorFlow batch norm statistics: ``gamma``, ``beta``, ``moving_mean``, ``moving_variance``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))
        self.register_buffer("moving_mean", torch.zeros(channels))
        self.register_buffer("moving_variance", torch.ones(channels))

    def forward(self, x: Tensor) -> Tensor:
        return F.batch_norm(x, self.moving_mean, self.moving_variance, self.gamma, self.beta, False, 0.0, SSD_BATCH_NORM_EPSILON)


class DepthwiseConv(nn.Module):
    """3×3 depthwise convolution + batch norm + ReLU6."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.depthwise_weights = nn.Parameter(torch.randn(channels, 1, 3, 3) * (2 / 9) ** 0.5)
        self.BatchNorm = BatchNorm(channels)

    def forward(self, x: Tensor, stride: int) -> Tensor:
        x = conv2d_same(x, self.depthwise_weights, stride=stride, groups=x.shape[1])
        return self.BatchNorm(x).clamp(0, 6)


class Predictor(nn.Module):
    """A 1×1 convolution with ``weights`` and ``biases`` (box encodings or class logits)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1) * (2 / in_channels) ** 0.5)
        self.biases = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weights, self.biases)


class BoxPredictor(nn.Module):
    def __init__(self, in_channels: int, anchors: int) -> None:
        super().__init__()
        self.BoxEncodingPredictor = Predictor(in_channels, anchors * 4)
        self.ClassPredictor = Predictor(in_channels, anchors * 3)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Box encodings ``(N, H*W*A, 4)`` and class logits ``(N, H*W*A, 3)`` in TF's (row, col, anchor) order."""
        boxes = self.BoxEncodingPredictor(x).permute(0, 2, 3, 1).reshape(x.shape[0], -1, 4)
        classes = self.ClassPredictor(x).permute(0, 2, 3, 1).reshape(x.shape[0], -1, 3)
        return boxes, classes


# MobileNet v1 channel widths of Conv2d_0 … Conv2d_13, and the depthwise layers that stride 2
MOBILENET_WIDTHS = (32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)
MOBILENET_STRIDED = (2, 4, 6, 12)
# SSD extra layers Prediction/Conv2d_0 … Conv2d_7: (in, out, kernel, stride)
PREDICTION_LAYERS = ((1024, 256, 1, 1), (256, 512, 3, 2), (512, 128, 1, 1), (128, 256, 3, 2),
                     (256, 128, 1, 1), (128, 256, 3, 2), (256, 64, 1, 1), (64, 128, 3, 2))
# Box predictors: (input channels, anchors per cell), fed by conv 11, conv 13 and extra layers 1, 3, 5, 7
BOX_PREDICTORS = ((512, 3), (1024, 6), (512, 6), (256, 6), (256, 6), (128, 6))
SSD_ANCHORS = 5118  # 32²·3 + (16² + 8² + 4² + 2² + 1²)·6 at 512² input


class MobilenetV1(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.add_module("Conv2d_0_pointwise", PointwiseConv(3, 32, 3))
        for index in range(1, 14):
            self.add_module(f"Conv2d_{index}_depthwise", DepthwiseConv(MOBILENET_WIDTHS[index - 1]))
            self.add_module(f"Conv2d_{index}_pointwise", PointwiseConv(MOBILENET_WIDTHS[index - 1], MOBILENET_WIDTHS[index]))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Final features (1024 ch, 1/32) and conv 11's (512 ch, 1/16)."""
        x = self.Conv2d_0_pointwise(x, stride=2)
        conv11 = x
        for index in range(1, 14):
            stride = 2 if index in MOBILENET_STRIDED else 1
            x = getattr(self, f"Conv2d_{index}_depthwise")(x, stride)
            x = getattr(self, f"Conv2d_{index}_pointwise")(x)
            if index == 11:
                conv11 = x
        return x, conv11


class Prediction(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        for index, (cin, cout, size, _) in enumerate(PREDICTION_LAYERS):
            self.add_module(f"Conv2d_{index}_pointwise", PointwiseConv(cin, cout, size))
        for index, (channels, anchors) in enumerate(BOX_PREDICTORS):
            self.add_module(f"BoxPredictor_{index}", BoxPredictor(channels, anchors))

    def forward(self, features: Tensor, conv11: Tensor) -> tuple[Tensor, Tensor]:
        extra = []
        x = features
        for index, (*_, stride) in enumerate(PREDICTION_LAYERS):
            x = getattr(self, f"Conv2d_{index}_pointwise")(x, stride)
            extra.append(x)
        sources = (conv11, features, extra[1], extra[3], extra[5], extra[7])
        predictions = [getattr(self, f"BoxPredictor_{index}")(source) for index, source in enumerate(sources)]
        return torch.cat([p[0] for p in predictions], dim=1), torch.cat([p[1] for p in predictions], dim=1)


class Output(nn.Module):
    """The SSD anchors, ``extra_dim``: ``(5118, 4)`` as ``(ymin, xmin, ymax, xmax)`` in ``[0, 1]``."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("extra_dim", _default_anchors())


def _default_anchors() -> Tensor:
    """Square anchors centred on every cell, in TF's (row, col, anchor) order, for a fresh
    network; trained networks bring their own."""
    levels = []
    for cells, anchors in ((32, 3), (16, 6), (8, 6), (4, 6), (2, 6), (1, 6)):
        centers = (torch.arange(cells, dtype=torch.float32) + 0.5) / cells
        cy, cx = torch.meshgrid(centers, centers, indexing="ij")
        half = torch.linspace(1.0, 2.0, anchors) * 0.5 / cells  # (anchors,)
        center = torch.stack([cy, cx], dim=-1)[:, :, None, :]  # (cells, cells, 1, 2)
        extent = half[None, None, :, None].expand(cells, cells, anchors, 2)
        levels.append(torch.cat([center - extent, center + extent], dim=-1).reshape(-1, 4))
    return torch.cat(levels)


class SsdMobilenetV1(nn.Module):
    """SSD MobileNet v1 face detector (5.4 MB)."""

    def __init__(self) -> None:
        super().__init__()
        self.MobilenetV1 = MobilenetV1()
        self.Prediction = Prediction()
        self.Output = Output()

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Decoded boxes ``(N, 5118, 4)`` as ``(ymin, xmin, ymax, xmax)`` in the square input, and scores ``(N, 5118)``.

        :param images: ``(N, 3, 512, 512)`` network inputs in ``[-1, 1]``.
        """
        features, conv11 = self.MobilenetV1(images)
        encodings, logits = self.Prediction(features, conv11)
        anchors = self.Output.extra_dim
        sizes = anchors[:, 2:] - anchors[:, :2]
        centers = anchors[:, :2] + sizes / 2
        half = torch.exp(encodings[..., 2:] / 5) * sizes / 2
        middle = encodings[..., :2] / 10 * sizes + centers
        boxes = torch.cat([middle - half, middle + half], dim=-1)
        return boxes, torch.sigmoid(logits[..., 1])

    @torch.no_grad()
    def detect(self, image: Tensor, min_score: float = 0.5, max_results: int = 100) -> tuple[Tensor, Tensor]:
        """Boxes ``(K, 4)`` in pixels and scores ``(K,)`` of one ``(3, H, W)`` image."""
        height, width = image.shape[-2:]
        boxes, scores = self(network_input(image, SSD_INPUT_SIZE, centered=False)[None])
        boxes, scores = boxes[0].float(), scores[0].float()
        candidates = torch.nonzero(scores > min_score)[:, 0]
        if candidates.numel() == 0:
            return _empty()
        # (ymin, xmin, ymax, xmax) -> (x0, y0, x1, y1), corners ordered as the original's IoU does
        yx = boxes[candidates]
        corners = torch.stack([torch.minimum(yx[:, 1], yx[:, 3]), torch.minimum(yx[:, 0], yx[:, 2]),
                               torch.maximum(yx[:, 1], yx[:, 3]), torch.maximum(yx[:, 0], yx[:, 2])], dim=1)
        keep = candidates[greedy_nms(corners, scores[candidates], SSD_IOU_THRESHOLD, max_results)]
        reshaped_height, reshaped_width = _reshaped_size(height, width, SSD_INPUT_SIZE)
        pad_x, pad_y = SSD_INPUT_SIZE / reshaped_width, SSD_INPUT_SIZE / reshaped_height
        kept = boxes[keep]
        left, right = kept[:, 1].clamp(min=0) * pad_x, kept[:, 3].clamp(max=1) * pad_x
        top, bottom = kept[:, 0].clamp(min=0) * pad_y, kept[:, 2].clamp(max=1) * pad_y
        relative = torch.stack([left, top, right, bottom], dim=1)
        scale = torch.tensor([width, height, width, height], dtype=relative.dtype)
        return relative * scale, scores[keep]
