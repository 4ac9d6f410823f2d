"""Hook implementations of the ``e4e`` plugin."""

from __future__ import annotations

from lswap_core import hookimpl
from lswap_core.hookspecs import Register

CHECKPOINT = "e4e_ffhq_encode.pt"


@hookimpl
def lswap_register_inverters(register: Register) -> None:
    from .inverter import E4EInverter  # torch and the network load only when inverters are needed

    register(E4EInverter)


@hookimpl
def lswap_register_converters(register: Register) -> None:
    from .convert import E4EConverter, E4EDecoderConverter

    register(E4EConverter)
    register(E4EDecoderConverter)


@hookimpl
def lswap_register_assets(register: Register) -> None:
    from lswap_core.assets import Asset, AssetFile, Conversion

    register(
        Asset(
            name="e4e-ffhq",
            description=f"e4e encoder for FFHQ ({CHECKPOINT}) and the StyleGAN2 FFHQ 1024 generator inside it",
            licence="MIT (encoder4editing); the generator's weights: NVIDIA's StyleGAN2 FFHQ terms",
            homepage="https://github.com/omertov/encoder4editing",
            files=(AssetFile(CHECKPOINT),),
            manual=(
                f"download {CHECKPOINT} from Google Drive, "
                "https://drive.google.com/file/d/1cUv_reLE6k3604or78EranS7XzuVMWeO/view "
                "(the 'FFHQ Inversion' link of the e4e README)"
            ),
            conversions=(
                Conversion(CHECKPOINT, "e4e-ffhq.safetensors", "e4e"),
                Conversion(CHECKPOINT, "e4e-ffhq-decoder.safetensors", "e4e-decoder"),
            ),
        )
    )
