"""The kernel and pooling explorers of chapters 2 and 3: controls change what they compute."""

import matplotlib

matplotlib.use("Agg")

import torch
import torch.nn.functional as F

from mnist_book.scratch import hand_made_kernels
from mnist_book.widgets import kernel_explorer, pooling_explorer

IMAGES = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def test_kernel_explorer_presets_and_hand_edits():
    explorer = kernel_explorer(IMAGES, torch.tensor([7, 2, 1]))
    explorer.preset.value = "vertical edge"
    torch.testing.assert_close(explorer.kernel(), hand_made_kernels()["vertical edge"])
    expected = F.conv2d(IMAGES[:1], explorer.kernel().view(1, 1, 3, 3), padding=1)[0, 0]
    torch.testing.assert_close(explorer.feature_map(), expected)

    explorer.weights[4].value = 10.0  # the centre weight
    assert explorer.preset.value == "(your own)"
    assert explorer.kernel()[1, 1] == 10.0
    explorer.digit.value = 2
    expected = F.conv2d(IMAGES[2:3], explorer.kernel().view(1, 1, 3, 3), padding=1)[0, 0]
    torch.testing.assert_close(explorer.feature_map(), expected)
    assert 'alt="The digit #2 (label 1), the kernel (your own) and the feature map it gives"' in explorer.view.value


def test_pooling_explorer_follows_its_controls():
    explorer = pooling_explorer(IMAGES)
    explorer.feature.value = "horizontal edge"
    explorer.window.value, explorer.stride.value = 3, 2
    features = F.conv2d(IMAGES[:1], hand_made_kernels()["horizontal edge"].view(1, 1, 3, 3), padding=1).relu()
    torch.testing.assert_close(explorer.pooled(), F.max_pool2d(features, 3, 2))
    assert explorer.pooled().shape == (1, 1, 13, 13)
    explorer.mode.value = "average"
    torch.testing.assert_close(explorer.pooled(), F.avg_pool2d(features, 3, 2))
    assert (
        'alt="The horizontal edge feature map of the digit #0 and its average pooling (window 3, stride 2)"'
        in explorer.view.value
    )
