"""The command line's opt-in kinds (issue 15): the layer grammar, --output, --momentum,
--alpha-decay and the synthetic colour data."""

import pytest

from cnntoolbox.netfields import format_layers, parse_layers


def test_layer_grammar_reads_and_writes_every_kind():
    assert parse_layers("6c5r-2m-12c5t-2s-3c1l-1c1") == [
        {"type": "i"},
        {"type": "c", "outputmaps": 6, "kernelsize": 5, "activation": "relu"},
        {"type": "s", "scale": 2, "method": "max"},
        {"type": "c", "outputmaps": 12, "kernelsize": 5, "activation": "tanh"},
        {"type": "s", "scale": 2},
        {"type": "c", "outputmaps": 3, "kernelsize": 1, "activation": "linear"},
        {"type": "c", "outputmaps": 1, "kernelsize": 1}]
    for spec in ["6c5r-2m-12c5r-2m", "2m-2s-3c3l-3c3t", "6c5-2s-12c5-2s"]:
        assert format_layers(parse_layers(spec)) == spec
    explicit = [{"type": "c", "outputmaps": 6, "kernelsize": 5, "activation": "sigm"},
                {"type": "s", "scale": 2, "method": "mean"}]
    assert format_layers(explicit) == "6c5-2s"
    odd = [{"type": "c", "outputmaps": 2, "kernelsize": 3, "activation": "swish"},
           {"type": "s", "scale": 2, "method": "median"}]
    assert format_layers(odd) == "2c3(swish)-2s(median)"
    for bad in ["6c5x", "6c5rr", "6c5R", "2x", "2mm", "6r5", "0m", "6c0r"]:
        with pytest.raises(ValueError, match=r"NcKr/NcKt/NcKl for relu/tanh/linear.*Nm for max"):
            parse_layers(bad)
