"""Hook implementations of the ``deep3dface`` plugin."""

from __future__ import annotations

from lswap_core import hookimpl

REPOSITORY = "https://github.com/sicxu/Deep3DFaceRecon_pytorch"
PINNED_COMMIT = "9167c7136aebef0c54d3ac74f4b0396222a491c1"


@hookimpl
def lswap_register_shape_models(register):
    from .model import Deep3DFaceShapeModel

    register(Deep3DFaceShapeModel)


@hookimpl
def lswap_register_converters(register):
    from .convert import Deep3DFaceConverter

    register(Deep3DFaceConverter)


@hookimpl
def lswap_register_assets(register):
    from lswap_core.assets import Asset, AssetFile, Conversion

    register(
        Asset(
            name="deep3dface",
            description="Deep3DFaceRecon 3DMM coefficient regressor (epoch_20.pth) and its alignment reference",
            licence="MIT (Deep3DFaceRecon_pytorch)",
            homepage=REPOSITORY,
            files=(
                AssetFile("epoch_20.pth"),
                AssetFile(
                    "similarity_Lm3D_all.mat",
                    url=f"https://raw.githubusercontent.com/sicxu/Deep3DFaceRecon_pytorch/{PINNED_COMMIT}/BFM/similarity_Lm3D_all.mat",
                    sha256="53b83ce6e35c50ddc3e97603650cef4970320c157e75c241c844f29c1dcba65a",
                ),
            ),
            manual=(
                "download epoch_20.pth (folder face_recon_feat0.2_augment) from Google Drive, "
                "https://drive.google.com/drive/folders/1liaIxn9smpudjjqMaWWRpP0mXRW_qRPP "
                "(Deep3DFaceRecon_pytorch README, 'Prepare prerequisite models')"
            ),
            requires=("bfm",),
            conversions=(Conversion("epoch_20.pth", "deep3dface.safetensors", "deep3dface"),),
        )
    )
    register(
        Asset(
            name="bfm",
            description="Basel Face Model 2009 with Guo et al.'s expressions, as BFM_model_front.mat (Deep3DFaceRecon)",
            licence="Basel Face Model licence: non-commercial research only, no redistribution (registration required)",
            homepage="https://faces.dmi.unibas.ch/bfm/main.php?nav=1-0&id=basel_face_model",
            files=(AssetFile("BFM_model_front.mat"),),
            manual=(
                "register at https://faces.dmi.unibas.ch/bfm/main.php?nav=1-2&id=downloads and download "
                "01_MorphableModel.mat; download Exp_Pca.bin from "
                "https://drive.google.com/file/d/1bw5Xf8C12pWmcMhNEu6PtsYVZkVucEN6/view; put both in the BFM folder "
                f"of a {REPOSITORY} checkout and run there `python -c \"from util.load_mats import transferBFM09; "
                "transferBFM09('BFM')\"`, which writes BFM/BFM_model_front.mat"
            ),
            check="lswap_plugins.deep3dface.face_model:check_bfm_folder",
        )
    )
