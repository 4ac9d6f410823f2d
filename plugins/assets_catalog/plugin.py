"""Declarations of the official generator, inverter, mixer and face-api files LatentSwap builds on.

Each asset belongs with the plugin of its component; until that plugin
declares it, it is listed here so that ``lswap weights list`` is complete.
Their conversions use whichever installed converter recognises the file.
"""

from __future__ import annotations

from lswap_core import hookimpl

NVIDIA_NC = "NVIDIA Source Code License-NC: non-commercial research only"
NGC = "https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan2/versions/1/files"
STYLENERF = "https://huggingface.co/facebook/stylenerf-ffhq-config-basic/resolve/main"
FACE_API = "@vladmandic/face-api@1.7.15"

# face-api 1.7.15's model/ folder: (file, SHA-256 of the npm package's copy).
FACE_API_FILES = (
    ("age_gender_model-weights_manifest.json", "74b60bf3ebf981bf4e661e9cca3a185614e10b25d797118b62e2a68d3ff2569f"),
    ("age_gender_model.bin", "49f92bbc0afef2342c4385e4a2b0acb6d7a727c6f0aa539499719a81acf9abaa"),
    ("face_expression_model-weights_manifest.json", "5b349c17c7836da506e03422cd6461c74085d8bb2713ad4114647dc5d28174c8"),
    ("face_expression_model.bin", "9a9840f2cf1f4c7eab95f197512569345c00d2426754d4608b92af30e0300f3d"),
    ("face_landmark_68_model-weights_manifest.json", "ca4886639f86e99b39fed0c155f81b63317225773bd9616716e887b0153389c9"),
    ("face_landmark_68_model.bin", "4611ef65c87d836d03d684b30eec4d195d8b219fa1dd58fc58945831c6b9299b"),
    ("face_landmark_68_tiny_model-weights_manifest.json", "9a1a5dd19fd814fd5095c3cb58f8e0d3193b8c5b9a6715b30a69d559aea31ad4"),
    ("face_landmark_68_tiny_model.bin", "b98e9f2f7da76f8a6dda9741a36ed485b224b889d552de2b2c1bb16217f67bfc"),
    ("face_recognition_model-weights_manifest.json", "cbaffa501b0b9275a12b63357a6843e7e30c054e1c9151e1a5f879b26e32986b"),
    ("face_recognition_model.bin", "b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589"),
    ("ssd_mobilenetv1_model-weights_manifest.json", "888f744dffbc84f5f060d1f8427d9742341943a2dfaaf9205d10029b7e7a2955"),
    ("ssd_mobilenetv1_model.bin", "2835640602d53718aa6ae9a42896327eaa21beefed056c218d32ca7d79e1e2f8"),
    ("tiny_face_detector_model-weights_manifest.json", "5d1af4849ac48d5b985f4a9b16010c512353ddd6fcc63d50fd0bc9e9e64296e5"),
    ("tiny_face_detector_model.bin", "b7503ce7df31039b1c43316a9b865cab6a70dd748cc602d3fa28b551503c3871"),
)
FACE_API_LICENCE_SHA256 = "9a3442b79acaf4fbc7c2e07b7e2d8f84af9bb3871bf08a69d80304ab00640e9a"


@hookimpl
def lswap_register_assets(register):
    from lswap_core.weights import Asset, AssetFile, Conversion

    def converted(file_name: str, export: str) -> tuple[Conversion, ...]:
        return (Conversion(file_name, f"{export}.safetensors"),)

    register(
        Asset(
            name="stylegan2-ffhq",
            description="StyleGAN2 FFHQ 1024x1024 (stylegan2-ada-pytorch ffhq.pkl), the generator of LatentSwap and PTI",
            licence=NVIDIA_NC,
            homepage="https://github.com/NVlabs/stylegan2-ada-pytorch",
            files=(AssetFile("ffhq.pkl", url="https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/ffhq.pkl"),),
            conversions=converted("ffhq.pkl", "stylegan2-ffhq"),
        )
    )
    for resolution in (1024, 512, 256):
        file_name = f"stylegan2-ffhq-{resolution}x{resolution}.pkl"
        register(
            Asset(
                name=f"stylegan2-ffhq-{resolution}",
                description=f"StyleGAN2 FFHQ {resolution}x{resolution} (NVlabs, stylegan3 repository release)",
                licence=NVIDIA_NC,
                homepage="https://github.com/NVlabs/stylegan3",
                files=(AssetFile(file_name, url=f"{NGC}/{file_name}"),),
                conversions=converted(file_name, f"stylegan2-ffhq-{resolution}"),
            )
        )
    register(
        Asset(
            name="stylegan2-rosinality-ffhq",
            description="StyleGAN2 FFHQ 1024x1024 in rosinality's format (stylegan2-ffhq-config-f.pt), as e4e uses it",
            licence=f"{NVIDIA_NC} (weights converted from NVIDIA's StyleGAN2)",
            homepage="https://github.com/rosinality/stylegan2-pytorch",
            files=(AssetFile("stylegan2-ffhq-config-f.pt"),),
            manual=(
                "download stylegan2-ffhq-config-f.pt from Google Drive, "
                "https://drive.google.com/file/d/1EM87UquaoQmk17Q8d5kYIAHqu0dkYqdT/view "
                "(the 'FFHQ StyleGAN' link of the e4e README)"
            ),
            conversions=converted("stylegan2-ffhq-config-f.pt", "stylegan2-rosinality-ffhq"),
        )
    )
    for resolution in (1024, 512, 256):
        file_name = f"ffhq_{resolution}.pkl"
        register(
            Asset(
                name=f"stylenerf-ffhq-{resolution}",
                description=f"StyleNeRF FFHQ {resolution}x{resolution}, the 3D-aware generator of LatentSwap's Figure 9",
                licence="CC BY-NC 4.0 (StyleNeRF); code from stylegan2-ada-pytorch under " + NVIDIA_NC,
                homepage="https://github.com/facebookresearch/StyleNeRF",
                files=(AssetFile(file_name, url=f"{STYLENERF}/{file_name}"),),
                conversions=converted(file_name, f"stylenerf-ffhq-{resolution}"),
            )
        )
    register(
        Asset(
            name="e4e-ffhq",
            description="e4e encoder for FFHQ (e4e_ffhq_encode.pt), PTI's initial inversion",
            licence="MIT (encoder4editing)",
            homepage="https://github.com/omertov/encoder4editing",
            files=(AssetFile("e4e_ffhq_encode.pt"),),
            manual=(
                "download e4e_ffhq_encode.pt from Google Drive, "
                "https://drive.google.com/file/d/1cUv_reLE6k3604or78EranS7XzuVMWeO/view "
                "(the 'FFHQ Inversion' link of the e4e README)"
            ),
            conversions=converted("e4e_ffhq_encode.pt", "e4e-ffhq"),
        )
    )
    register(
        Asset(
            name="latentswap-mixer",
            description="official LatentSwap latent mixer for StyleGAN2 FFHQ 1024, W+ (epoch=39-step=200000.ckpt)",
            licence="MIT (LatentSwap repository; no separate terms for the weights)",
            homepage="https://github.com/usingcolor/LatentSwap",
            files=(AssetFile("epoch=39-step=200000.ckpt"),),
            manual=(
                "download epoch=39-step=200000.ckpt from Google Drive, "
                "https://drive.google.com/file/d/1YsGy856Q1bqFoHhdascoNQrbOCcLK4fP/view "
                "(LatentSwap README, 'Pre-trained Model')"
            ),
            conversions=converted("epoch=39-step=200000.ckpt", "latentswap-mixer"),
        )
    )
    manifests = [name for name, _ in FACE_API_FILES if name.endswith("-weights_manifest.json")]
    register(
        Asset(
            name="faceapi",
            description="face-api nets: detection, 68 landmarks, 128-d recognition, expression, age/gender (TensorFlow.js)",
            licence="MIT (@vladmandic/face-api)",
            homepage="https://github.com/vladmandic/face-api",
            npm=FACE_API,
            files=(
                *(AssetFile(name, sha256=sha256, member=f"model/{name}") for name, sha256 in FACE_API_FILES),
                AssetFile("LICENSE", sha256=FACE_API_LICENCE_SHA256, member="LICENSE"),
            ),
            conversions=tuple(
                Conversion(name, name.replace("-weights_manifest.json", ".safetensors")) for name in manifests
            ),
        )
    )
