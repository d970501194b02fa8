"""The networks: shapes, parameter counts, the corrected dropout and output, batch norm, the features
fc1 reads, FastNet, LeNet-5, multiply-adds counted by hand, evaluation mode, the layer table."""

import warnings

import pytest
import torch
import torch.nn.functional as F

from mnist_book.devices import get_device
from mnist_book.models import (
    FLAT_FEATURES,
    NETWORKS,
    ArticleNet,
    FastNet,
    LeNet5,
    Net,
    build_network,
    count_parameters,
    eval_mode,
    layer_table,
    multiply_adds,
)


def conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def expected_parameters() -> int:
    """By hand: weights (out * in * k * k, or out * in) plus one bias per output."""
    conv1 = 32 * 1 * 3 * 3 + 32
    conv2 = 64 * 32 * 3 * 3 + 64
    side = conv_out(conv_out(28, 3), 3) // 2  # two valid 3x3 convolutions, then a 2x2 pool
    fc1 = 64 * side * side * 128 + 128
    fc2 = 128 * 10 + 10
    return conv1 + conv2 + fc1 + fc2


def test_features_are_what_fc1_reads():
    """Net.features and Net.feature_maps against the input fc1 really receives (a forward hook)."""
    torch.manual_seed(0)
    net = Net().eval()
    x = torch.randn(4, 1, 28, 28)
    seen = {}
    net.fc1.register_forward_hook(lambda module, inputs, output: seen.__setitem__("x", inputs[0]))
    with torch.no_grad():
        net(x)
        features, maps = net.features(x), net.feature_maps(x)
    assert torch.equal(features, seen["x"])
    assert features.shape == (4, FLAT_FEATURES) == (4, net.fc1.in_features)
    side = conv_out(conv_out(28, 3), 3)  # two valid 3x3 convolutions
    assert {k: tuple(v.shape[1:]) for k, v in maps.items()} == {
        "conv1": (32, conv_out(28, 3), conv_out(28, 3)),
        "conv2": (64, side, side),
        "pool": (64, side // 2, side // 2),
    }
    assert (maps["conv1"] >= 0).all() and (maps["conv2"] >= 0).all()  # after ReLU


def test_batch_norm_net_takes_nets_weights():
    """With fresh batch norm (mean 0, variance 1, scale 1, shift 0) in eval mode, Net(batch_norm=True)
    loaded with Net's weights computes what Net computes, up to BN's epsilon."""
    torch.manual_seed(0)
    net = Net().eval()
    bn = Net(batch_norm=True).eval()
    missing, unexpected = bn.load_state_dict(net.state_dict(), strict=False)
    assert unexpected == [] and missing and all(k.startswith(("bn1.", "bn2.")) for k in missing)
    x = torch.randn(8, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(bn(x), net(x), rtol=1e-4, atol=1e-4)
    assert "bn1.weight" not in Net().state_dict()  # the plain network is unchanged
    with pytest.raises(ValueError, match="Dropout rates"):
        Net(p_fc=1.0)


def test_fast_net_shapes():
    model = FastNet()
    shapes = {}
    for name in ("conv1", "conv2", "conv3", "bn3", "fc"):
        getattr(model, name).register_forward_hook(lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape)))
    assert model(torch.randn(5, 1, 28, 28)).shape == (5, 10)
    assert shapes == {
        "conv1": (5, 16, 14, 14),  # 5x5, stride 2, padding 2: (28 + 4 - 5) // 2 + 1 = 14
        "conv2": (5, 32, 14, 14),
        "conv3": (5, 64, 7, 7),
        "bn3": (5, 64, 3, 3),  # after the pool: 7 // 2
        "fc": (5, 10),
    }
    with pytest.raises(ValueError, match="widths"):
        FastNet((16, 32))


def test_multiply_adds_by_hand():
    fast = 16 * 1 * 25 * 14 * 14 + 32 * 16 * 9 * 14 * 14 + 64 * 32 * 9 * 7 * 7 + 576 * 10
    net = 32 * 1 * 9 * 26 * 26 + 64 * 32 * 9 * 24 * 24 + 9216 * 128 + 128 * 10
    assert multiply_adds(FastNet()) == fast
    assert multiply_adds(Net()) == net
    assert net > 6 * fast  # the reason the fast recipe is fast
    # Feature maps as input (in_channels): one 5x5 layer on 64 maps of 24x24 gives 20x20 outputs.
    assert multiply_adds(torch.nn.Conv2d(64, 64, 5), 24, in_channels=64) == 64 * 64 * 25 * 20 * 20


def test_build_network_by_name():
    assert isinstance(build_network("FastNet", widths=(8, 8, 8)), FastNet)
    assert build_network("Net", batch_norm=True).batch_norm
    with pytest.raises(ValueError, match="Unknown network 'LeNet'"):
        build_network("LeNet")


def test_eval_mode_restores_the_mode_even_after_an_error():
    model = Net().train()
    with pytest.raises(RuntimeError):
        with eval_mode(model):
            assert not model.training and not torch.is_grad_enabled()
            model(torch.randn(1, 3, 28, 28))  # three channels: conv1 refuses
    assert model.training and torch.is_grad_enabled()
    model.eval()
    with eval_mode(model):
        pass
    assert not model.training


@pytest.mark.parametrize("batch", [1, 5])
def test_net_output_shape(batch):
    device = get_device()
    model = Net().to(device).eval()
    out = model(torch.randn(batch, 1, 28, 28, device=device))
    assert out.shape == (batch, 10)
    assert out.dtype == torch.float32


def test_parameter_count_matches_hand_computation():
    assert count_parameters(Net()) == expected_parameters() == 1_199_882
    assert count_parameters(ArticleNet()) == expected_parameters()


def test_net_does_not_warn_in_training_mode():
    model = Net().train()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model(torch.randn(4, 1, 28, 28))
    assert [str(w.message) for w in caught] == []


def test_article_net_does_warn_about_dropout2d():
    """The check above can fail: the article's network trips exactly this warning."""
    model = ArticleNet().train()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model(torch.randn(4, 1, 28, 28))
    messages = [str(w.message) for w in caught]
    assert any("dropout2d" in m.lower() and "2-d input" in m.lower() for m in messages), messages


@pytest.mark.filterwarnings("ignore:dropout2d")
def test_net_returns_logits_and_article_net_log_probabilities():
    torch.manual_seed(0)
    net, article = Net().eval(), ArticleNet().eval()
    article.load_state_dict(net.state_dict())  # same layer names and shapes
    x = torch.randn(6, 1, 28, 28)
    logits, log_probs = net(x), article(x)
    # Same weights: the article's output is exactly log_softmax of ours.
    torch.testing.assert_close(log_probs, F.log_softmax(logits, dim=1))
    torch.testing.assert_close(log_probs.exp().sum(1), torch.ones(6))
    assert not torch.allclose(logits.exp().sum(1), torch.ones(6))


def test_dropout_only_in_training_mode():
    torch.manual_seed(0)
    model = Net()
    x = torch.randn(3, 1, 28, 28)
    model.eval()
    torch.testing.assert_close(model(x), model(x), rtol=0, atol=0)
    model.train()
    assert not torch.equal(model(x), model(x))


def test_layer_table_records_real_shapes_and_parameters():
    model = Net()
    rows = layer_table(model, torch.randn(2, 1, 28, 28))
    by_name = {r.name: r for r in rows}
    assert [r.name for r in rows] == ["conv1", "conv2", "dropout1", "fc1", "dropout2", "fc2"]
    assert by_name["conv1"].output_shape == (2, 32, 26, 26)
    assert by_name["conv2"].output_shape == (2, 64, 24, 24)
    assert by_name["dropout1"].input_shape == (2, 64, 12, 12)  # after max-pool
    assert by_name["fc1"].input_shape == (2, FLAT_FEATURES)
    assert by_name["fc2"].output_shape == (2, 10)
    assert sum(r.parameters for r in rows) == expected_parameters()
    assert model.training  # mode restored
    assert not any(m._forward_hooks for m in model.modules())  # hooks removed


def test_lenet5_shapes():
    """Every layer's output against the output-size formula: padding 2 keeps 28, each pool halves."""
    model = LeNet5().eval()
    shapes = {}
    for name in ("conv1", "conv2", "fc1", "fc2", "fc3"):
        getattr(model, name).register_forward_hook(lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape)))
    with torch.no_grad():
        out = model(torch.randn(3, 1, 28, 28))
    side1 = conv_out(28, 5, padding=2)  # 28: padding 2 makes the 32x32 input LeNet-5 was made for
    side2 = conv_out(side1 // 2, 5)  # 14 -> 10
    assert shapes == {
        "conv1": (3, 6, side1, side1),
        "conv2": (3, 16, side2, side2),
        "fc1": (3, 120),
        "fc2": (3, 84),
        "fc3": (3, 10),
    }
    assert model.fc1.in_features == 16 * (side2 // 2) ** 2 == 400
    assert out.shape == (3, 10) and not torch.allclose(out.exp().sum(1), torch.ones(3))  # logits


def test_lenet5_parameters_and_multiply_adds_by_hand():
    conv = [(1, 6, 5), (6, 16, 5)]  # (in, out, kernel)
    dense = [(400, 120), (120, 84), (84, 10)]
    by_formula = sum(o * i * k * k + o for i, o, k in conv) + sum(o * i + o for i, o in dense)
    assert count_parameters(LeNet5()) == by_formula == 61_706
    macs = 6 * 1 * 25 * 28 * 28 + 16 * 6 * 25 * 10 * 10 + sum(i * o for i, o in dense)
    assert multiply_adds(LeNet5()) == macs
    assert multiply_adds(Net()) > 25 * macs  # Net does far more arithmetic per image


def test_lenet5_is_not_registered():
    """LeNet5 is trained by passing an instance to fit: the registry, part of every cached run's key, is unchanged."""
    assert set(NETWORKS) == {"Net", "FastNet", "ArticleNet"}
    assert LeNet5 not in NETWORKS.values()
