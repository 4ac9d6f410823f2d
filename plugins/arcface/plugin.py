"""Hook implementations of the ``arcface`` plugin."""

from __future__ import annotations

from lswap_core import hookimpl

INSIGHTFACE_ZOO = "https://github.com/deepinsight/insightface/tree/master/recognition/arcface_torch#model-zoo"
INSIGHTFACE_ONEDRIVE = "https://1drv.ms/u/s!AswpsDO2toNKq0lWY69vN58GR6mw?e=p9Ov5d"
INSIGHTFACE_TERMS = "insightface model zoo: non-commercial research use only"


@hookimpl
def lswap_register_embedders(register):
    from .embedder import ArcFaceEmbedder

    register(ArcFaceEmbedder)


@hookimpl
def lswap_register_converters(register):
    from .convert import IResNetConverter, IRSEConverter

    register(IRSEConverter)
    register(IResNetConverter)


@hookimpl
def lswap_register_assets(register):
    from lswap_core.assets import Asset, AssetFile, Conversion

    register(
        Asset(
            name="arcface-ir-se50",
            description="ArcFace IR-SE-50 of pSp/e4e/PTI's identity loss (TreB1eN)",
            licence="MIT (TreB1eN/InsightFace_Pytorch)",
            homepage="https://github.com/TreB1eN/InsightFace_Pytorch",
            files=(AssetFile("model_ir_se50.pth"),),
            manual=(
                "download model_ir_se50.pth from Google Drive, "
                "https://drive.google.com/file/d/1KW7bjndL3QG3sxBbZxreGHigcCCpsDgn/view "
                "(the 'IR-SE50 Model' link of the pSp and e4e READMEs)"
            ),
            conversions=(Conversion("model_ir_se50.pth", "arcface-ir-se50.safetensors", "arcface-ir-se"),),
        )
    )
    for depth in ("50", "100"):
        register(
            Asset(
                name=f"arcface-iresnet{depth}",
                description=f"insightface ArcFace iresnet{depth} trained on MS1MV3 (ms1mv3_arcface_r{depth}_fp16)",
                licence=INSIGHTFACE_TERMS,
                homepage=INSIGHTFACE_ZOO,
                files=(AssetFile("backbone.pth"),),
                manual=(
                    f"download ms1mv3_arcface_r{depth}_fp16/backbone.pth from the insightface model zoo "
                    f"on OneDrive, {INSIGHTFACE_ONEDRIVE}"
                ),
                conversions=(Conversion("backbone.pth", f"arcface-iresnet{depth}.safetensors", "arcface-iresnet"),),
            )
        )
