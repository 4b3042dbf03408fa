"""Starting a codec run from a narrower codec (`polc train codec --init`): what fits is copied,
new input channels are zeroed so the wider network computes what the source did, the
means | scales halves of h_s stay apart, and the source's gains are not reused."""

from __future__ import annotations

import torch

from polc.shared.models.codec.architecture import ArchitectureConfig
from polc.shared.models.codec.model import RDCCodec
from polc.training.codec_init import transfer_weights


def _models() -> tuple[RDCCodec, RDCCodec]:
    torch.manual_seed(0)
    narrow = RDCCodec(ArchitectureConfig(N=16, M=24, aux_channels=8, levels=4, residual_channels=8))
    wide = RDCCodec(ArchitectureConfig(N=16, M=40, aux_channels=12, levels=6, residual_channels=8))
    return narrow, wide


def test_wider_codec_reconstructs_like_the_source_before_training():
    narrow, wide = _models()
    report = transfer_weights(wide, narrow)
    assert "g_a.net.0.weight" in report.copied and "g_a.net.6.weight" in report.widened
    assert {"gain_y.log_gain", "gain_s.log_gain"} <= set(report.initialised)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        y_narrow, y_wide = narrow.g_a(x), wide.g_a(x)
        assert torch.equal(y_wide[:, :24], y_narrow)  # the old channels, then new ones
        assert y_wide[:, 24:].abs().sum() > 0
        x_narrow, _ = narrow.g_s(y_narrow)
        x_wide, _ = wide.g_s(y_wide)  # the new channels are read with zero weights
    torch.testing.assert_close(x_wide, x_narrow)


def test_hyper_synthesis_means_and_scales_are_copied_half_by_half():
    narrow, wide = _models()
    transfer_weights(wide, narrow)
    z = torch.randint(-3, 4, (1, 16, 2, 2)).float()
    with torch.no_grad():
        mu_n, sigma_n = narrow.h_s(z)
        mu_w, sigma_w = wide.h_s(z)
    torch.testing.assert_close(mu_w[:, :24], mu_n)
    torch.testing.assert_close(sigma_w[:, :24], sigma_n)


def test_same_shapes_copy_everything_and_narrower_targets_are_left_alone():
    narrow, wide = _models()
    report = transfer_weights(narrow, wide)  # the wide model does not fit into the narrow one
    assert not report.widened
    assert "g_a.net.6.weight" in report.initialised and "g_a.net.0.weight" in report.copied
    twin = RDCCodec(narrow.arch)
    report = transfer_weights(twin, narrow)
    assert not report.widened and not report.initialised
    for (name, a), b in zip(twin.state_dict().items(), narrow.state_dict().values(), strict=True):
        if name in dict(twin.named_parameters()):
            assert torch.equal(a, b), name
