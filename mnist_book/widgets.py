"""Interactive explorers for Jupyter (ipywidgets). Each chapter that shows one also shows a
static figure of the same thing, so the HTML book, which has no kernel, loses nothing.

Every explorer draws its picture as an ``<img>`` in an HTML widget, with alternative text that says
in words what the picture shows, for readers who cannot see it; every slider and menu
has a ``description``, which the HTML book makes the name of the slider's handle
(``book/_static/widgets/setup.js``)."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from mnist_book.plots import show_digits


def data_browser(images: torch.Tensor, labels: torch.Tensor, *, names: list[str] | None = None) -> widgets.Widget:
    """An index slider over ``images`` (N, [1,] 28, 28) showing each image with its label."""
    slider = widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="index", continuous_update=False)
    view = _picture()

    def show(change=None) -> None:
        index = slider.value
        label = int(labels[index])
        title = f"#{index}: label {label}" + (f" ({names[label]})" if names else "")
        _render_png(view, lambda: show_digits(images[index : index + 1], titles=[title], size=3), alt=f"Image {title}")

    slider.observe(show, names="value")
    show()
    return widgets.VBox([slider, view])


# --------------------------------------------------------------------------- convolution and pooling (chapters 2, 3)


def _picture() -> widgets.HTML:
    """The widget an explorer draws into (see :func:`_render_png`)."""
    return widgets.HTML()


def _render_png(view: widgets.HTML, make_figure, *, alt: str) -> None:
    """Show the figure ``make_figure()`` returns in ``view`` as a PNG ``<img>`` with ``alt``, what it
    shows in words, as its alternative text.

    Not an Image widget: it has no alternative text (and the HTML book's widgets manager fails on
    an Image with a tooltip). Not an Output widget: capturing output is what sometimes hangs
    notebook runners (nbclient issue #312).
    """
    import base64
    import html
    import io

    fig = make_figure()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)  # shown once, in the widget, not again below the cell
    data = base64.b64encode(buffer.getvalue()).decode()
    view.value = f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _digit_slider(images: torch.Tensor) -> widgets.IntSlider:
    return widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="digit", continuous_update=False)


def _digit_title(index: int, labels: torch.Tensor | None) -> str:
    return f"digit #{index}" + (f" (label {int(labels[index])})" if labels is not None else "")


class _DigitsAndKernels(widgets.VBox):
    """What both explorers start from: the digits (N, 1, H, W) on the CPU, their labels, the kernels."""

    def __init__(
        self, images: torch.Tensor, labels: torch.Tensor | None = None, *, kernels: dict | None = None
    ) -> None:
        from mnist_book.scratch import hand_made_kernels

        super().__init__()
        self.images = images.detach().float().cpu().reshape(len(images), 1, *images.shape[-2:])  # (N, 1, H, W)
        self.labels = labels
        self.kernels = {name: k.float() for name, k in (kernels or hand_made_kernels()).items()}


class KernelExplorer(_DigitsAndKernels):
    """Nine weight boxes (with presets) and a digit slider; the feature map redraws on every change."""

    def __init__(
        self, images: torch.Tensor, labels: torch.Tensor | None = None, *, kernels: dict | None = None
    ) -> None:
        super().__init__(images, labels, kernels=kernels)
        first = next(iter(self.kernels))
        self.weights = [
            widgets.FloatText(value=float(v), step=0.5, layout=widgets.Layout(width="70px"))
            for v in self.kernels[first].flatten()
        ]
        self.preset = widgets.Dropdown(options=list(self.kernels) + ["(your own)"], value=first, description="kernel")
        self.digit = _digit_slider(self.images)
        self.view = _picture()
        self._quiet = False  # True while a preset fills the nine boxes: one redraw, not nine
        self.preset.observe(self._on_preset, names="value")
        for box in self.weights:
            box.observe(self._on_weight, names="value")
        self.digit.observe(lambda change: self.redraw(), names="value")
        grid = widgets.GridBox(self.weights, layout=widgets.Layout(grid_template_columns="repeat(3, 75px)"))
        self.children = [widgets.HBox([widgets.VBox([self.preset, self.digit]), grid]), self.view]
        self.redraw()

    def kernel(self) -> torch.Tensor:
        """The 3×3 kernel the boxes hold."""
        return torch.tensor([box.value for box in self.weights], dtype=torch.float32).view(3, 3)

    def feature_map(self) -> torch.Tensor:
        """The chosen digit cross-correlated with the kernel (padding 1 keeps 28×28): (H, W)."""
        from mnist_book.scratch import conv2d

        return conv2d(self.images[self.digit.value : self.digit.value + 1], self.kernel().view(1, 1, 3, 3), padding=1)[
            0, 0
        ]

    def redraw(self) -> None:
        from mnist_book.plots import show_kernel_gallery

        name = self.preset.value
        title = _digit_title(self.digit.value, self.labels)
        _render_png(
            self.view,
            lambda: show_kernel_gallery(
                self.images[self.digit.value : self.digit.value + 1],
                {name: self.kernel()},
                self.feature_map()[None, None],
                row_titles=[title],
                size=2.6,
            ),
            alt=f"The {title}, the kernel ({name.strip('()')}) and the feature map it gives",
        )

    def _on_preset(self, change) -> None:
        if change["new"] not in self.kernels:
            return  # "(your own)": keep the weights as they are
        self._quiet = True
        for box, value in zip(self.weights, self.kernels[change["new"]].flatten().tolist()):
            box.value = value
        self._quiet = False
        self.redraw()

    def _on_weight(self, change) -> None:
        if self._quiet:
            return
        preset = self.kernels.get(self.preset.value)
        if preset is not None and not torch.equal(preset, self.kernel()):
            self._quiet = True  # a hand-edited kernel is no longer the preset
            self.preset.value = "(your own)"
            self._quiet = False
        self.redraw()


def kernel_explorer(
    images: torch.Tensor, labels: torch.Tensor | None = None, *, kernels: dict | None = None
) -> KernelExplorer:
    """A :class:`KernelExplorer` over ``images`` (N, [1,] H, W): edit nine weights, watch the feature map."""
    return KernelExplorer(images, labels, kernels=kernels)


class PoolingExplorer(_DigitsAndKernels):
    """A feature map of a chosen digit (hand-made kernel, then ReLU), pooled with the window and stride chosen."""

    def __init__(
        self, images: torch.Tensor, labels: torch.Tensor | None = None, *, kernels: dict | None = None
    ) -> None:
        super().__init__(images, labels, kernels=kernels)
        self.digit = _digit_slider(self.images)
        self.feature = widgets.Dropdown(options=list(self.kernels), description="feature")
        self.mode = widgets.ToggleButtons(options=["max", "average"], description="pooling")
        self.window = widgets.IntSlider(value=2, min=1, max=4, description="window", continuous_update=False)
        self.stride = widgets.IntSlider(value=2, min=1, max=4, description="stride", continuous_update=False)
        self.view = _picture()
        for control in (self.digit, self.feature, self.mode, self.window, self.stride):
            control.observe(lambda change: self.redraw(), names="value")
        self.children = [
            widgets.HBox(
                [widgets.VBox([self.digit, self.feature, self.mode]), widgets.VBox([self.window, self.stride])]
            ),
            self.view,
        ]
        self.redraw()

    def feature_map(self) -> torch.Tensor:
        """ReLU of the chosen digit cross-correlated with the chosen kernel: (1, 1, H, W)."""
        from mnist_book.scratch import conv2d

        kernel = self.kernels[self.feature.value].view(1, 1, 3, 3)
        return conv2d(self.images[self.digit.value : self.digit.value + 1], kernel, padding=1).relu()

    def pooled(self) -> torch.Tensor:
        """The feature map pooled: (1, 1, H', W')."""
        import torch.nn.functional as F

        from mnist_book.scratch import max_pool2d

        if self.mode.value == "max":
            return max_pool2d(self.feature_map(), self.window.value, self.stride.value)
        return F.avg_pool2d(self.feature_map(), self.window.value, self.stride.value)

    def redraw(self) -> None:
        from mnist_book.plots import show_pooling

        title = f"{self.mode.value} pooling"
        digit = _digit_title(self.digit.value, self.labels)
        _render_png(
            self.view,
            lambda: show_pooling(
                self.feature_map(),
                self.pooled(),
                self.window.value,
                self.stride.value,
                title=title,
                input_title=f"{digit}, {self.feature.value}:",
            ),
            alt=f"The {self.feature.value} feature map of the {digit} and its {title} "
            f"(window {self.window.value}, stride {self.stride.value})",
        )


def pooling_explorer(
    images: torch.Tensor, labels: torch.Tensor | None = None, *, kernels: dict | None = None
) -> PoolingExplorer:
    """A :class:`PoolingExplorer` over ``images`` (N, [1,] H, W): choose feature, pooling, window, stride."""
    return PoolingExplorer(images, labels, kernels=kernels)


# --------------------------------------------------------------------------- predictions (chapter 6)


class ProbabilityBrowser(widgets.VBox):
    """Browse test digits with the model's ten probabilities as bars; optionally only the mistakes."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, probs: torch.Tensor) -> None:
        from mnist_book.plots import plot_prediction

        super().__init__()
        self.images, self.labels, self.probs = images.detach().cpu(), labels.detach().cpu(), probs.detach().cpu()
        self._plot = plot_prediction
        wrong = (self.probs.argmax(1) != self.labels).nonzero().flatten().tolist()
        self.choices = {"all digits": list(range(len(self.labels))), "mistakes only": wrong or [0]}
        self.which = widgets.ToggleButtons(options=list(self.choices), value="all digits", description="show")
        self.position = widgets.IntSlider(
            value=0, min=0, max=len(self.labels) - 1, description="digit", continuous_update=False
        )
        self.view = _picture()
        self.which.observe(self._on_which, names="value")
        self.position.observe(lambda change: self.redraw(), names="value")
        self.children = [widgets.HBox([self.which, self.position]), self.view]
        self.redraw()

    def index(self) -> int:
        """The test-set index of the digit on show."""
        return self.choices[self.which.value][self.position.value]

    def _on_which(self, change) -> None:
        self.position.max = len(self.choices[self.which.value]) - 1
        self.position.value = 0
        self.redraw()

    def redraw(self) -> None:
        i = self.index()
        label = int(self.labels[i])
        read = int(self.probs[i].argmax())
        _render_png(
            self.view,
            lambda: self._plot(self.images[i], self.probs[i], label, title=f"#{i}: true {label}"),
            alt=f"Test digit #{i}, a {label}, and the model's ten probabilities: "
            f"it reads {read} with probability {float(self.probs[i, read]):.1%}",
        )


def probability_browser(images: torch.Tensor, labels: torch.Tensor, probs: torch.Tensor) -> ProbabilityBrowser:
    """A :class:`ProbabilityBrowser` over ``images`` (N, [1,] 28, 28), their labels and probabilities (N, 10)."""
    return ProbabilityBrowser(images, labels, probs)


# --------------------------------------------------------------------------- your own handwriting (chapter 7)


class HandwritingReader(widgets.VBox):
    """Upload a photo or scan of one digit: see each preprocessing step and what the model reads.

    Input that cannot be read (not an image, empty, blank, too large) shows its error message.
    ``read(data)`` does the same for bytes given directly (tests, scripts).
    """

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="Upload a digit")
        self.message = widgets.HTML("Choose a PNG or JPEG image of one handwritten digit.")
        self.view = _picture()
        self.reading = None  # the last mnist_book.preprocess.Reading
        self.upload.observe(self._on_upload, names="value")
        self.children = [self.upload, self.message, self.view]

    def _on_upload(self, change) -> None:
        files = change["new"]
        if files:
            self.read(bytes(files[0]["content"]), name=files[0].get("name", "upload"))

    def read(self, data: bytes, *, name: str = "image") -> None:
        """Preprocess ``data``, classify it, and show the steps (or the reason it cannot be read)."""
        import html

        from mnist_book.plots import plot_preprocessing
        from mnist_book.preprocess import ImageInputError, classify_image

        try:
            self.reading = classify_image(self.model, data)
        except ImageInputError as err:
            self.reading = None
            self.message.value = f'<span style="color: crimson">{html.escape(name)}: {html.escape(str(err))}</span>'
            self.view.value = ""
            return
        r = self.reading
        self.message.value = (
            f"{html.escape(name)}: the model reads <b>{r.digit}</b> with probability {float(r.probs[r.digit]):.1%}"
            + (" (the ink was darker than the paper, so the image was inverted)." if r.preprocessed.inverted else ".")
        )
        _render_png(
            self.view,
            lambda: plot_preprocessing(r.preprocessed.steps, r.probs),
            alt=f"{name} at each preprocessing step, and the model's ten probabilities: it reads {r.digit}",
        )


def handwriting_reader(model: torch.nn.Module) -> HandwritingReader:
    """A :class:`HandwritingReader`: a FileUpload that runs ``model`` on an uploaded digit."""
    return HandwritingReader(model)
