"""face-api's weights, as ``lswap weights`` knows them: the npm package's ``model/`` folder."""

from __future__ import annotations

from lswap_core.hookspecs import Register

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


def register_assets(register: Register) -> None:
    from lswap_core.assets import Asset, AssetFile, Conversion

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
            conversions=(
                # The embedder from the recognition net; the analyzer from the whole folder (detectors,
                # landmarks, expression, age/gender in one export).
                Conversion("face_recognition_model-weights_manifest.json", "faceapi-embedder.safetensors", "faceapi"),
                Conversion(".", "faceapi-analyzer.safetensors", "faceapi"),
            ),
        )
    )
