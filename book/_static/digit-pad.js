/* The digit pad: draw a digit, and the book's own network reads it, in the browser.
 *
 * Every element <div class="digit-pad-host"> becomes a pad. After each stroke the drawing goes
 * through the same steps as the book's Python preprocessing (mnist_book/preprocess.py: greyscale,
 * ink map, crop, fit into 20x20 with PIL's bilinear filter, centre of mass at (14, 14), normalise),
 * and ONNX Runtime Web (single-threaded WebAssembly, so any static server will do) runs the network
 * exported by chapter 7.3 (_static/digit-reader.onnx). The result is shown as bars and feature maps,
 * and also written into the DOM: .digit-pad-result carries data-digit and data-probabilities.
 */
(function () {
  "use strict";

  const SCRIPT = document.currentScript;
  const STATIC = new URL(".", SCRIPT ? SCRIPT.src : window.location.href).href; // .../_static/
  // ONNX Runtime Web: the book's own copy (_static/ort/) or a CDN, as the build chose (data-ort).
  const ORT_BASE = new URL((SCRIPT && SCRIPT.dataset.ort) || "ort/", STATIC).href;
  const MODEL_URL = STATIC + "digit-reader.onnx";
  // The preprocessing's numbers, written into the page by the build (book/_ext/offline_assets.py)
  // from mnist_book.preprocess.page_constants(): one source for the pad and the Python code.
  const K = JSON.parse((SCRIPT && SCRIPT.dataset.constants) || "null");
  if (!K) {
    console.warn("digit-pad.js: the page carries no preprocessing constants (data-constants); no pad.");
    return;
  }
  const { mean: MEAN, std: STD, box: BOX, field: FIELD, centre: CENTRE, minContrast: MIN_CONTRAST } = K;
  const BORDER = K.border;
  const f32 = Math.fround;

  // ------------------------------------------------------------------ preprocessing

  /** Python's round(): halves go to the even neighbour. */
  function roundHalfEven(x) {
    const r = Math.round(x);
    return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }

  /** numpy's median: the mean of the two middle values for an even count. */
  function median(values) {
    const a = Float64Array.from(values).sort();
    const n = a.length;
    return n % 2 ? a[(n - 1) / 2] : (a[n / 2 - 1] + a[n / 2]) / 2;
  }

  /** Luminance in [0, 1] (PIL's "L": 299/587/114, rounded), transparent pixels as white paper. */
  function toGrey(rgba, h, w) {
    const grey = new Float32Array(h * w);
    for (let i = 0; i < h * w; i++) {
      const a = rgba[4 * i + 3] / 255;
      const r = rgba[4 * i] * a + 255 * (1 - a), g = rgba[4 * i + 1] * a + 255 * (1 - a);
      const b = rgba[4 * i + 2] * a + 255 * (1 - a);
      grey[i] = f32(((Math.round(r) * 19595 + Math.round(g) * 38470 + Math.round(b) * 7471 + 0x8000) >> 16) / 255);
    }
    return grey;
  }

  function border(x, h, w) {
    const bh = Math.max(1, Math.floor(h / BORDER)), bw = Math.max(1, Math.floor(w / BORDER));
    const out = [];
    for (let r = 0; r < bh; r++) for (let c = 0; c < w; c++) out.push(x[r * w + c]);
    for (let r = h - bh; r < h; r++) for (let c = 0; c < w; c++) out.push(x[r * w + c]);
    for (let r = 0; r < h; r++) for (let c = 0; c < bw; c++) out.push(x[r * w + c]);
    for (let r = 0; r < h; r++) for (let c = w - bw; c < w; c++) out.push(x[r * w + c]);
    return out;
  }

  /** Ink = 1, paper = 0 (mnist_book.preprocess.ink_map); null when the pad is blank. */
  function inkMap(grey, h, w) {
    const edge = border(grey, h, w);
    const paper = median(edge);
    let strongest = 0;
    for (const g of grey) strongest = Math.max(strongest, Math.abs(f32(g - paper)));
    if (strongest < MIN_CONTRAST) return null;
    let up = 0, down = 0;
    for (const g of grey) {
      const d = f32(g - paper);
      if (Math.abs(d) >= strongest / 2) { if (d > 0) up += d; else down -= d; }
    }
    const dark = down > up;
    const signed = new Float32Array(h * w), strong = [];
    for (let i = 0; i < h * w; i++) {
      const d = f32(grey[i] - paper);
      signed[i] = dark ? -d : d;
      if (Math.abs(d) >= strongest / 2 && signed[i] > 0) strong.push(signed[i]);
    }
    const inkLevel = median(strong);
    const spread = median(edge.map((b) => Math.abs(f32(b - paper))));
    const floor = Math.max(4 * 1.4826 * spread, 0.1 * inkLevel);
    const ink = new Float32Array(h * w);
    const span = Math.max(inkLevel - floor, 1e-6);
    for (let i = 0; i < h * w; i++) ink[i] = f32(Math.min(1, Math.max(0, (signed[i] - floor) / span)));
    return ink;
  }

  /** PIL's MedianFilter(3), with the edge pixels repeated outward. */
  function median3(u8, h, w) {
    const out = new Uint8Array(h * w), win = new Uint8Array(9);
    const at = (r, c) => u8[Math.min(h - 1, Math.max(0, r)) * w + Math.min(w - 1, Math.max(0, c))];
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < w; c++) {
        let k = 0;
        for (let dr = -1; dr <= 1; dr++) for (let dc = -1; dc <= 1; dc++) win[k++] = at(r + dr, c + dc);
        out[r * w + c] = win.sort()[4];
      }
    }
    return out;
  }

  /** The smallest rectangle holding all the ink (specks ignored on large images). */
  function cropToDigit(ink, h, w) {
    let mask = ink.map((v) => (v > 0 ? 1 : 0));
    if (Math.min(h, w) >= 2 * FIELD) {
      const cleaned = median3(Uint8Array.from(ink, (v) => Math.floor(v * 255)), h, w);
      if (cleaned.some((v) => v > 0)) mask = cleaned;
    }
    let top = h, bottom = -1, left = w, right = -1;
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < w; c++) {
        if (mask[r * w + c] > 0) {
          top = Math.min(top, r); bottom = Math.max(bottom, r);
          left = Math.min(left, c); right = Math.max(right, c);
        }
      }
    }
    if (bottom < 0) return null;
    const ch = bottom - top + 1, cw = right - left + 1, out = new Float32Array(ch * cw);
    for (let r = 0; r < ch; r++) for (let c = 0; c < cw; c++) out[r * cw + c] = ink[(top + r) * w + left + c];
    return { data: out, h: ch, w: cw };
  }

  /** PIL's coefficients for its bilinear filter, widened when shrinking (antialiasing). */
  function coefficients(inSize, outSize) {
    const scale = inSize / outSize, filterscale = Math.max(scale, 1), support = filterscale;
    const rows = [];
    for (let x = 0; x < outSize; x++) {
      const center = (x + 0.5) * scale, ss = 1 / filterscale;
      const xmin = Math.max(0, Math.trunc(center - support + 0.5));
      const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
      const k = [];
      let total = 0;
      for (let i = 0; i < xmax; i++) {
        const t = Math.abs((i + xmin - center + 0.5) * ss);
        const weight = t < 1 ? 1 - t : 0;
        k.push(weight);
        total += weight;
      }
      rows.push({ xmin, k: k.map((v) => (total !== 0 ? v / total : v)) });
    }
    return rows;
  }

  /** PIL's Image.resize(..., BILINEAR) on a float image: a horizontal pass, then a vertical one. */
  function resize(src, h, w, newW, newH) {
    let cur = src, cw = w;
    if (newW !== w) {
      const co = coefficients(w, newW), out = new Float32Array(h * newW);
      for (let r = 0; r < h; r++) {
        for (let x = 0; x < newW; x++) {
          let s = 0;
          co[x].k.forEach((k, i) => { s += cur[r * cw + co[x].xmin + i] * k; });
          out[r * newW + x] = f32(s);
        }
      }
      cur = out; cw = newW;
    }
    if (newH !== h) {
      const co = coefficients(h, newH), out = new Float32Array(newH * cw);
      for (let y = 0; y < newH; y++) {
        for (let c = 0; c < cw; c++) {
          let s = 0;
          co[y].k.forEach((k, i) => { s += cur[(co[y].xmin + i) * cw + c] * k; });
          out[y * cw + c] = f32(s);
        }
      }
      cur = out;
    }
    return cur;
  }

  /** Longer side to 20 pixels, aspect kept; then stretched so that the darkest stroke is 1. */
  function fitInBox(digit) {
    const scale = BOX / Math.max(digit.h, digit.w);
    const w = Math.max(1, roundHalfEven(digit.w * scale)), h = Math.max(1, roundHalfEven(digit.h * scale));
    const out = resize(digit.data, digit.h, digit.w, w, h).map((v) => Math.min(1, Math.max(0, v)));
    let peak = 0;
    for (const v of out) peak = Math.max(peak, v);
    return { data: peak > 0 ? out.map((v) => f32(v / peak)) : out, h, w };
  }

  /** Pasted into 28x28 with its centre of mass on (14, 14), kept inside the field. Every sum in
   * float32, in index order, as mnist_book.preprocess.centre_by_mass adds (its cumsum). */
  function centreByMass(digit) {
    const { data, h, w } = digit;
    let mass = 0, rowMoment = 0, colMoment = 0;
    const rowSums = new Float32Array(h), colSums = new Float32Array(w);
    for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) {
      rowSums[r] = f32(rowSums[r] + data[r * w + c]);
      colSums[c] = f32(colSums[c] + data[r * w + c]);
    }
    for (let r = 0; r < h; r++) {
      mass = f32(mass + rowSums[r]);
      rowMoment = f32(rowMoment + f32(rowSums[r] * r));
    }
    for (let c = 0; c < w; c++) colMoment = f32(colMoment + f32(colSums[c] * c));
    const rowShift = f32(f32(CENTRE[0]) - f32(rowMoment / mass));
    const colShift = f32(f32(CENTRE[1]) - f32(colMoment / mass));
    const top = Math.min(FIELD - h, Math.max(0, roundHalfEven(rowShift)));
    const left = Math.min(FIELD - w, Math.max(0, roundHalfEven(colShift)));
    const out = new Float32Array(FIELD * FIELD);
    for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) out[(top + r) * FIELD + left + c] = data[r * w + c];
    return out;
  }

  /** A drawing (ImageData) -> the network's input (Float32Array of 784, normalised), or null if blank. */
  function preprocess(image) {
    const { width: w, height: h } = image;
    const ink = inkMap(toGrey(image.data, h, w), h, w);
    if (!ink) return null;
    const cropped = cropToDigit(ink, h, w);
    if (!cropped) return null;
    const centred = centreByMass(fitInBox(cropped));
    return { centred, input: centred.map((v) => f32(f32(v - MEAN) / STD)) };
  }

  // ------------------------------------------------------------------ the runtime

  let sessionPromise = null;

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = src;
      s.onload = resolve;
      s.onerror = () => reject(new Error("could not load " + src));
      document.head.appendChild(s);
    });
  }

  async function session() {
    if (!sessionPromise) {
      sessionPromise = (async () => {
        if (window.location.protocol === "file:") {
          throw new Error(
            "Browsers do not let a page opened as a file load the network. Serve the book instead: " +
            "python -m http.server -d _build/html, then open http://localhost:8000."
          );
        }
        if (!window.ort) await loadScript(ORT_BASE + "ort.wasm.min.js");
        window.ort.env.wasm.numThreads = 1; // no SharedArrayBuffer, so no special server headers
        window.ort.env.wasm.wasmPaths = ORT_BASE;
        return window.ort.InferenceSession.create(MODEL_URL, { executionProviders: ["wasm"] });
      })();
    }
    return sessionPromise;
  }

  /** Run the network on one preprocessed input: probabilities (10) and first-layer maps. */
  async function read(input) {
    const s = await session();
    const tensor = new window.ort.Tensor("float32", input, [1, 1, FIELD, FIELD]);
    const out = await s.run({ image: tensor });
    const logits = Array.from(out.logits.data);
    const top = Math.max(...logits);
    const exps = logits.map((v) => Math.exp(v - top));
    const total = exps.reduce((a, b) => a + b, 0);
    const probs = exps.map((v) => v / total);
    const [, channels, mh, mw] = out.conv1.dims;
    return { logits, probs, digit: probs.indexOf(Math.max(...probs)), maps: out.conv1.data, channels, mh, mw };
  }

  // ------------------------------------------------------------------ the pad

  function element(tag, attrs = {}, parent = null) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "text") el.textContent = v; else el.setAttribute(k, v);
    }
    if (parent) parent.appendChild(el);
    return el;
  }

  function drawGrey(canvas, values, w, h, scale) {
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(w, h);
    let lo = Infinity, hi = -Infinity;
    for (const v of values) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    for (let i = 0; i < w * h; i++) {
      const t = hi > lo ? (values[i] - lo) / (hi - lo) : 0;
      const g = Math.round(255 * (1 - t)); // high values dark: ink on paper, as in the book's figures
      img.data.set([g, g, g, 255], 4 * i);
    }
    canvas.width = w; canvas.height = h;
    canvas.style.width = `${w * scale}px`; canvas.style.height = `${h * scale}px`;
    ctx.putImageData(img, 0, 0);
  }

  class DigitPad {
    constructor(host) {
      const small = host.dataset.size === "small";
      this.host = host;
      this.inputScale = small ? 3 : 4; // screen pixels per input pixel
      host.textContent = "";
      host.classList.add("digit-pad", small ? "digit-pad-small" : "digit-pad-large");
      const left = element("div", { class: "digit-pad-drawing" }, host);
      this.canvas = element("canvas", {
        class: "digit-pad", width: "280", height: "280", role: "img",
        "aria-label": "Drawing pad: draw one digit with the mouse, a finger or a pen",
      }, left);
      this.clear = element("button", {
        type: "button", class: "digit-pad-clear", "aria-label": "Clear the drawing pad", text: "Clear",
      }, left);
      const right = element("div", { class: "digit-pad-reading" }, host);
      this.result = element("p", { class: "digit-pad-result", "aria-live": "polite", text: "Draw a digit." }, right);
      element("p", { class: "digit-pad-caption", text: "What the network receives (28 × 28):" }, right);
      this.input = element("canvas", { class: "digit-pad-input", "aria-hidden": "true" }, right);
      this.bars = element("div", { class: "digit-pad-bars", role: "list", "aria-label": "Probability of each digit" }, right);
      this.barFill = [];
      for (let d = 0; d < 10; d++) {
        const row = element("div", { class: "digit-pad-bar", role: "listitem" }, this.bars);
        element("span", { class: "digit-pad-bar-label", text: String(d) }, row);
        const track = element("span", { class: "digit-pad-bar-track" }, row);
        this.barFill.push(element("span", { class: "digit-pad-bar-fill" }, track));
      }
      if (!small) {
        element("p", { class: "digit-pad-caption", text: "What its first layer sees (one map per channel):" }, right);
        this.maps = element("div", { class: "digit-pad-maps", "aria-hidden": "true" }, right);
      }
      this.ctx = this.canvas.getContext("2d");
      this.reset();
      this.drawing = false;
      this.canvas.addEventListener("pointerdown", (e) => this.start(e));
      this.canvas.addEventListener("pointermove", (e) => this.move(e));
      for (const type of ["pointerup", "pointercancel"]) this.canvas.addEventListener(type, (e) => this.end(e));
      this.clear.addEventListener("click", () => this.reset());
      session().catch((err) => this.fail(err));
    }

    point(e) {
      const box = this.canvas.getBoundingClientRect();
      return [(e.clientX - box.left) * (this.canvas.width / box.width), (e.clientY - box.top) * (this.canvas.height / box.height)];
    }

    start(e) {
      e.preventDefault();
      this.canvas.setPointerCapture?.(e.pointerId);
      this.drawing = true;
      const [x, y] = this.point(e);
      this.ctx.beginPath();
      this.ctx.moveTo(x, y);
      this.ctx.lineTo(x + 0.01, y);
      this.ctx.stroke();
    }

    move(e) {
      if (!this.drawing) return;
      e.preventDefault();
      const [x, y] = this.point(e);
      this.ctx.lineTo(x, y);
      this.ctx.stroke();
    }

    end(e) {
      if (!this.drawing) return;
      this.drawing = false;
      this.update();
    }

    reset() {
      this.ticket = (this.ticket || 0) + 1;
      const ctx = this.ctx;
      ctx.fillStyle = "#ffffff";
      ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
      ctx.strokeStyle = "#000000";
      ctx.lineWidth = 22; // on a 280-pixel pad, about MNIST's pen after scaling to 20x20
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      this.result.textContent = "Draw a digit.";
      delete this.result.dataset.digit;
      delete this.result.dataset.probabilities;
      this.barFill.forEach((b) => { b.style.width = "0%"; b.classList.remove("digit-pad-top"); });
      drawGrey(this.input, new Float32Array(FIELD * FIELD), FIELD, FIELD, this.inputScale);
      if (this.maps) this.maps.textContent = "";
      this.lastInput = null;
    }

    /** Draw a picture (an image URL) onto the pad, scaled to fill it, and read it. */
    async drawPicture(url) {
      const img = new Image();
      img.src = url;
      await img.decode();
      this.reset();
      this.ctx.drawImage(img, 0, 0, this.canvas.width, this.canvas.height);
      return this.update();
    }

    async update() {
      const ticket = ++this.ticket; // a later stroke, or Clear, makes this reading stale
      const pre = preprocess(this.ctx.getImageData(0, 0, this.canvas.width, this.canvas.height));
      if (!pre) { this.reset(); return null; }
      this.lastInput = pre.input;
      drawGrey(this.input, pre.centred, FIELD, FIELD, this.inputScale);
      try {
        const r = await read(pre.input);
        if (ticket === this.ticket) this.show(r);
        return r;
      } catch (err) {
        this.fail(err);
        return null;
      }
    }

    show(r) {
      const percent = Math.round(100 * r.probs[r.digit]);
      this.result.textContent = `Read as ${r.digit} (${percent} %)`;
      this.result.dataset.digit = String(r.digit);
      this.result.dataset.probabilities = JSON.stringify(r.probs.map((p) => Number(p.toFixed(6))));
      this.barFill.forEach((b, d) => {
        b.style.width = `${(100 * r.probs[d]).toFixed(1)}%`;
        b.classList.toggle("digit-pad-top", d === r.digit);
      });
      if (this.maps) {
        this.maps.textContent = "";
        const size = r.mh * r.mw;
        for (let k = 0; k < r.channels; k++) {
          const c = element("canvas", { class: "digit-pad-map" }, this.maps);
          drawGrey(c, r.maps.subarray(k * size, (k + 1) * size), r.mw, r.mh, 3);
        }
      }
    }

    fail(err) {
      this.host.classList.add("digit-pad-failed");
      this.result.textContent = "The network could not run here: " + (err && err.message ? err.message : err);
    }
  }

  function start() {
    const pads = [...document.querySelectorAll("div.digit-pad-host")].map((host) => new DigitPad(host));
    window.mnistDigitPad = { pads, preprocess, read, session };
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
