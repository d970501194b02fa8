// Runs after RequireJS and before the Jupyter widgets HTML manager (embed-amd.js), on the pages
// that show widgets.
(function () {
  var script = document.currentScript;
  var here = script.src.replace(/\/[^\/]*$/, "");
  // The manager loads its fonts and icons from beside its own AMD module. When the book serves it
  // from _static/widgets/, map the module's id there (otherwise they are looked for next to the page).
  if (script.dataset.localManager === "true") {
    // Each bundled module's fonts are looked for beside its own id: map every one to this folder.
    var paths = { "@jupyter-widgets/html-manager/dist": here };
    ["base", "base7", "controls", "controls7", "output", "html-manager"].forEach(function (name) {
      paths["@jupyter-widgets/" + name] = here + "/" + name;
    });
    require.config({ paths: paths });
  }
  // The manager typesets widget labels with MathJax 2's API (MathJax.Hub.Queue); the book loads
  // MathJax 3, which has no Hub. Translate, once MathJax (a deferred script) is there.
  document.addEventListener("DOMContentLoaded", function () {
    if (window.MathJax && !window.MathJax.Hub) {
      window.MathJax.Hub = {
        Queue: function () {
          for (var i = 0; i < arguments.length; i++) {
            var job = arguments[i];
            if (Array.isArray(job) && job[0] === "Typeset" && window.MathJax.typesetPromise) {
              window.MathJax.typesetPromise([job[2]]).catch(function () {});
            }
          }
        },
      };
    }
  });
  // The manager draws a slider's handle (noUiSlider, role="slider") without a name; its label,
  // the widget's description, is beside it. Name each handle by its label as the widgets are drawn.
  var labelled = 0;
  function nameSliderHandles() {
    document.querySelectorAll(".widget-slider").forEach(function (slider) {
      var label = slider.querySelector(".widget-label");
      if (!label || !label.textContent.trim()) return;
      if (!label.id) label.id = "widget-label-" + ++labelled;
      slider.querySelectorAll('[role="slider"]:not([aria-labelledby])').forEach(function (handle) {
        handle.setAttribute("aria-labelledby", label.id);
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    nameSliderHandles();
    new MutationObserver(nameSliderHandles).observe(document.body, { childList: true, subtree: true });
  });
})();
