"""The chapter-4 network: shapes, parameter count, the corrected dropout and output, the layer table."""
import warnings

import pytest
import torch
import torch.nn.functional as F

from mnist_book.models import FLAT_FEATURES, ArticleNet, Net, count_parameters, layer_table
from mnist_book.settings import get_device


def conv_out(size: int, kernel: int, stride: int = 1) -> int:
    return (size - kernel) // stride + 1


def expected_parameters() -> int:
    """By hand: weights (out * in * k * k, or out * in) plus one bias per output."""
    conv1 = 32 * 1 * 3 * 3 + 32
    conv2 = 64 * 32 * 3 * 3 + 64
    side = conv_out(conv_out(28, 3), 3) // 2  # two valid 3x3 convolutions, then a 2x2 pool
    fc1 = 64 * side * side * 128 + 128
    fc2 = 128 * 10 + 10
    return conv1 + conv2 + fc1 + fc2


def test_flat_features_is_9216():
    side = conv_out(conv_out(28, 3), 3) // 2
    assert side == 12
    assert FLAT_FEATURES == 64 * side * side == 9216


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
