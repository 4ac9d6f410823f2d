"""``lswap bench mixer``: the stacked latent mixer against the official per-row layout."""

from __future__ import annotations

from typing import Annotated

import typer


def official_layout(num_ws: int, w_dim: int, hidden: tuple[int, ...] = (1024, 1024, 512, 512)) -> object:
    """The baseline: one nn.Sequential per W+ row, looped over with concatenation (official LatentMixerSep)."""
    import torch
    from torch import nn

    widths = [2 * w_dim, *hidden, w_dim]

    def row() -> nn.Sequential:
        layers: list[nn.Module] = []
        for index, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
            layers += [nn.Linear(fan_in, fan_out)] + ([nn.SiLU()] if index < len(widths) - 2 else [])
        return nn.Sequential(*layers)

    class PerRowMixer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mixer = nn.ModuleList(row() for _ in range(num_ws))

        def forward(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            rows = [m(torch.cat((source[:, i], target[:, i]), dim=1)) for i, m in enumerate(self.mixer)]
            return torch.stack(rows, dim=1) + target

    return PerRowMixer()


def register(app: typer.Typer) -> None:
    @app.command("mixer")
    def mixer_benchmark(
        batches: Annotated[str, typer.Option(help="Batch sizes, comma separated.")] = "8,32",
        num_ws: Annotated[int, typer.Option(help="W+ rows (18 for a 1024² StyleGAN2).")] = 18,
        repeats: Annotated[int, typer.Option(help="Timed runs per cell (median reported).")] = 5,
        threads: Annotated[int | None, typer.Option(help="Intra-op threads (default: all cores).")] = None,
        device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1...; auto picks cuda when available.")] = "auto",
    ) -> None:
        """Forward and training-step timings of the mixer beside the official per-row layout."""
        import torch

        from lswap_core.devices import resolve_device
        from lswap_core.mixer import LatentMixer, MixerConfig

        from .common import print_table, set_threads, time_ms

        torch_device = resolve_device(device)
        used = set_threads(threads)
        torch.manual_seed(0)
        ours = LatentMixer(MixerConfig(num_ws=num_ws, w_dim=512)).to(torch_device)
        baseline = official_layout(num_ws, 512).to(torch_device)  # type: ignore[attr-defined]
        rows = []
        for batch in [int(b) for b in batches.split(",")]:
            source = torch.randn(batch, num_ws, 512, device=torch_device)
            target = torch.randn(batch, num_ws, 512, device=torch_device)
            for label, step in _patterns(source, target, {id(baseline): _optimizer(baseline), id(ours): _optimizer(ours)}):
                base = time_ms(lambda: step(baseline), repeats=repeats, warmup=2, device=torch_device)
                mine = time_ms(lambda: step(ours), repeats=repeats, warmup=2, device=torch_device)
                rows.append((batch, label, base, mine, base / mine))
        print_table(
            f"latent mixer, {num_ws} rows × 512, {torch_device}, {used} threads (median of {repeats})",
            ["batch", "pass", "official layout ms", "lswap ms", "speed-up"],
            rows,
        )


def _optimizer(module: object) -> object:
    """The trainer's own optimizer (paper settings), for either layout."""
    from lswap_core.training.schema import OptimConfig
    from lswap_core.training.trainer import build_optimizer

    return build_optimizer(module.parameters(), OptimConfig())  # type: ignore[attr-defined]


def _patterns(source: object, target: object, optimizers: dict[int, object]) -> list[tuple[str, object]]:
    """The passes measured, as the trainer runs them (gradients set to None between steps, clipping, AdamW)."""
    import torch

    def forward(module: torch.nn.Module) -> None:
        with torch.no_grad():
            module(source, target)

    def forward_backward(module: torch.nn.Module) -> None:
        for parameter in module.parameters():
            parameter.grad = None
        module(source, target).square().mean().backward()

    def training_step(module: torch.nn.Module) -> None:
        optimizer = optimizers[id(module)]
        optimizer.zero_grad(set_to_none=True)
        module(source, target).square().mean().backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        optimizer.step()

    return [("forward", forward), ("forward+backward", forward_backward), ("training step (+clip, AdamW)", training_step)]
