"""vitspace demo: ViT and DeiT side by side. Widgets only; the work is in the vitspace package.

One builder per tab creates its widgets and wires each event to a handler named for it (`on_classify`, ...);
a handler checks its input, makes one library call and returns the library's text for the page.
"""
import base64
import functools
import logging
import os
import threading
from pathlib import Path

# Read when torch loads: between forwards, the model's threads sleep instead of spinning on the cores that HTTP,
# decoding and drawing need. 20 clients on 2 cores: 44 requests/s instead of 36; DeiT-S and larger lose nothing.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import gradio as gr
import pandas as pd
from fastapi.responses import JSONResponse
from gradio.context import LocalContext
from huggingface_hub import ModelCard

import vitspace as vs
from vitspace import explain as vx
from vitspace.bench import markdown as bench_md
from vitspace.bench import run as vb
from vitspace.bench.variants import BENCH_VARIANTS
from vitspace.card import build as vcard
from vitspace.card import signin
from vitspace.classify import report as classify_md
from vitspace.classify.classifier import MAX_BATCH
from vitspace.classify.examples import EXAMPLES_DIR, example_set
from vitspace.classify.process import limit_malloc_arenas
from vitspace.compress import build as vc
from vitspace.compress import cache as vcache
from vitspace.compress import report as compress_md
from vitspace.explain.report import heads_table
from vitspace.export import VARIANTS, default_files
from vitspace.models.loading import weights_line, weights_origin
from vitspace.util.paths import builds_root

TOP_K = 5
CONCURRENCY = 2  # requests at once per event, unless it says otherwise
# Classify requests wait together for the inference thread, which runs them in batches: room for one batch
# running, the next gathering, and the figures of the last being drawn
CLASSIFY_CONCURRENCY = 3 * MAX_BATCH
QUEUE_SIZE = 64  # requests waiting beyond those; more are told the app is busy
BUSY = "The app is busy: too many requests are waiting. Try again in a moment."
# Each plain API call is a session of its own, which Gradio keeps with its last outputs (10,000 by default). 128
# keep memory flat under a crowd; a browser tab idle through 128 others' calls then builds its files again
# (from the cache) before rendering the model card.
SESSIONS = 128
# Gradio redoes a pandas summary of its last 10,000 events after each event, read only by its monitoring page
# (off here): once every 1,000 events over the last 1,000 instead
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1000")
BUILDS = builds_root()
# the only folders Gradio may serve besides its own cache: never HOME, where the Hub token lives
SERVED = [str(BUILDS), str(EXAMPLES_DIR)]
log = logging.getLogger("vitspace.app")
# every model box: the registry's names as suggestions, or a model typed in (vitspace.models.resolve reads each)
MODEL_INFO = "Pick one, or type a Hugging Face Hub id (owner/name, owner/name@revision) or a folder, then Enter"
RANDOM_INFO = "random weights: for speed, not answers"
FILES_LABEL = ("Files: agreement is top-1 agreement with fp32 on the fidelity images; ms, the build's time per "
               "image on this CPU")
RESULTS_LABEL = "Results: agreement is top-1 agreement with eager fp32 (on that many images)"
MAP_WIDTH = 360  # px: two maps side by side need twice this, or they stack
NO_MODEL = "Choose a model, or type a Hugging Face Hub id (owner/name) or a folder with a saved ViT or DeiT."
BENCH_DEFAULT = ["eager-fp32", "eager-bf16", "int8.pt", "model-int8.pte", "model-int8-x86.pt2", "model-int8.onnx",
                 "mobile-tutorial-qnnpack", "openvino-bf16", "openvino-int8"]
_benches: dict[str, threading.Event] = {}  # session -> cancel flag of its running benchmark
_builds: dict[str, threading.Event] = {}   # session -> stop flag of its running build
# Gradio marks an event's outputs with a bare "Error" badge; the toast beside it already says what failed and why
CSS = ('[data-testid="status-tracker"] .error { display: none; }'
       # small images (CIFAR-10 is 32x32) fill their box with visible pixels; the model still gets its own input
       "#input-image img, #examples img { image-rendering: pixelated; }"
       "#input-image img { width: 100%; height: 100%; object-fit: contain; }"
       # tables: each header on one line, over its figures (right-aligned, cell by cell); words kept whole; a table
       # wider than its box (on a phone) scrolls inside it
       ".figures th, .prose th { white-space: nowrap; }"
       ".figures th:not(:first-child) .header-content { justify-content: flex-end; }"
       ".prose th, .prose td { overflow-wrap: normal; word-break: normal; }"
       ".prose table { display: block; width: max-content; max-width: 100%; overflow-x: auto; border: none; }")


class RawImage(gr.Image):
    """gr.Image that hands the raw upload to vitspace.load_image, which explains bad files to the user.

    gr.Image would open the file itself and fail on corrupt or huge uploads with a bare "Error".
    """

    is_template = True  # same front end as gr.Image

    def preprocess(self, payload):
        if payload is None:
            return None
        if payload.url and payload.url.startswith("data:"):
            return base64.b64decode(payload.url.split(",", 1)[1])
        return payload.path


class Label(gr.Label):
    """gr.Label whose API schema is worked out once. Each answer retitles the label with its model, for which
    Gradio builds a new component and redoes the schema with pydantic: 2-3 ms of every request."""

    is_template = True  # same front end as gr.Label
    _schema: dict | None = None

    def api_info(self) -> dict:
        if Label._schema is None:
            Label._schema = super().api_info()
        return Label._schema


def handled(what: str):
    """A handler whose failures reach the user as one sentence: the library's own message for its errors;
    for anything else, what failed and what to try, with the traceback in the server log. Gradio prints no
    traceback for the sentences: a bad upload is the visitor's, not the server's, and a Space's log that took 40
    lines for each would grow for weeks."""
    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except gr.Error as e:
                e.print_exception = False
                raise
            except vs.VitspaceError as e:
                raise gr.Error(str(e), title=f"{what} failed", print_exception=False) from None
            except Exception as e:
                log.exception("%s failed", what)  # the traceback, once
                raise gr.Error(f"{what} failed unexpectedly ({type(e).__name__}). Try again, or with other "
                               "settings; the server log has the details.", title=f"{what} failed",
                               print_exception=False) from None
        return run
    return wrap


# --- between the widgets and the library -------------------------------------------------------------------------

def _choices() -> list[tuple[str, str]]:
    def label(name: str) -> str:
        info = vs.model_info(name)
        return name if info.available else f"{name} (weights unavailable here)"
    return [(label(n), n) for n in vs.list_models()]


def _model(name) -> str:
    """A model box's value as the library takes it: a registered name, a Hub id or a folder."""
    name = (name or "").strip()
    if not name:
        raise gr.Error(NO_MODEL)
    return name


def _download(models: list[str], pretrained: bool) -> None:
    """Load the models whose weights the Hub has to send, the download bars shown as the event's progress
    (gr.Progress(track_tqdm=True)); then stop showing tqdm bars for the rest of the event: torch.fx updates a hidden
    bar per graph node, and reporting each made compiling (the fast path, .pt2 files) ten times slower."""
    try:
        for m in dict.fromkeys(models):
            if pretrained and weights_origin(vs.resolve(m)) == "hub":
                vs.get_classifier(m, pretrained)
    finally:
        LocalContext.progress.set(None)  # the Progress that Gradio's tqdm patch reports to


def _stepper(progress: gr.Progress, total: int):
    """A progress callback for library messages: each one advances the bar a step, short of the end."""
    steps = iter(range(1, total))
    return lambda message: progress(next(steps, total - 1) / total, desc=message)


def _explained(image, models: list[str], pretrained: bool, fast: bool, method: str):
    """The comparison, and an explanation per model: None each on the fast path or with the maps off."""
    if fast:  # the compiled int8 program keeps no attention to show
        return vs.compare(image, models, top_k=TOP_K, pretrained=pretrained, fast=fast), [None, None]
    return vx.compare_explained(image, models, top_k=TOP_K, pretrained=pretrained, method=method)


def _bench_stoppable(config: vb.BenchConfig, session: str, say) -> tuple:
    """bench_cached, which the Stop button of the same session cancels."""
    cancel = _benches.setdefault(session, threading.Event())
    cancel.clear()
    try:
        return vb.bench_cached(config, BUILDS, progress=say, cancel=cancel)
    except vb.BenchCancelled:
        raise gr.Error("Benchmark stopped: nothing was saved.") from None
    finally:
        _benches.pop(session, None)


def _build_stoppable(config: vc.CompressConfig, session: str, say) -> tuple:
    """compress_cached, which the Stop button of the same session stops before its next file."""
    stop = _builds.setdefault(session, threading.Event())
    stop.clear()
    try:
        return vc.compress_cached(config, BUILDS, progress=say, cancel=stop)
    finally:
        _builds.pop(session, None)


def _cache_line() -> str:
    return vcache.usage(BUILDS).line()


def _plot_frames(rows: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The plots' data from the measured rows: the smallest batch's, and those with both a size and an agreement."""
    ok = pd.DataFrame([r for r in rows if r["status"] == "ok"] or None, columns=list(bench_md.COLUMNS))
    smallest = ok[ok["batch"] == ok["batch"].min()] if len(ok) else ok
    return smallest, ok.dropna(subset=["size_mb", "agreement"])


def _card_page(text: str, path: Path) -> tuple[str, str, list[str]]:
    """(front matter, body, files to download) of a rendered card, its images linked through the app's file route."""
    parsed = ModelCard(text)
    body, files = parsed.text, [str(path)]
    for name in vcard.card_images(text):  # beside the README in the build folder, which the app serves
        body = body.replace(f"]({name})", f"](/gradio_api/file={path.parent / name})")
        files.append(str(path.parent / name))
    return parsed.data.to_yaml(), body, files


# --- handlers, one per event -------------------------------------------------------------------------------------

@handled("Classifying")
def on_classify(image, model_a: str, model_b: str, random_weights: bool, fast: bool = False,
                method: str = "rollout", progress=gr.Progress(track_tqdm=True)):
    if image is None:
        raise gr.Error("Upload an image, take one with the webcam, paste one, or click an example.")
    models, pretrained = [_model(model_a), _model(model_b)], not random_weights
    _download(models, pretrained)
    c, explanations = _explained(image, models, pretrained, fast, method)
    notes = [vs.fast_note(m, pretrained) for m in models] if fast else []
    origins = {m: vs.get_classifier(m, pretrained).origin for m in models}  # loaded above: no work
    a, b = c.predictions
    return (Label(classify_md.confidences(a), label=a.model), Label(classify_md.confidences(b), label=b.model),
            f"{classify_md.summary(c, notes, models)}\n\n{weights_line(origins)}",
            *vx.figures(explanations), heads_table(explanations))


def on_models(model_a, model_b):
    """The examples that fit the models chosen: CIFAR-10 images for CIFAR-10 models, photos for the others."""
    label, paths = example_set([model_a or "", model_b or ""])
    return gr.Dataset(samples=[[str(p)] for p in paths], label=label)


def on_change(image, model_a, model_b, random_weights, fast, method, progress=gr.Progress(track_tqdm=True)):
    """Re-run on a new image or model; an emptied image clears the answers, a bad one says why in their place."""
    if image is None:
        return None, None, "", None, None, ""
    try:
        return on_classify(image, model_a, model_b, random_weights, fast, method, progress)
    except gr.Error as e:
        return None, None, f"**Could not classify this image.** {e.message}", None, None, ""


@handled("Building the files")
def on_build(model: str, formats: list[str], engine: str, random_weights: bool, request: gr.Request,
             progress=gr.Progress(track_tqdm=True)):
    if not formats:
        raise gr.Error("Choose at least one format.")
    model = _model(model)
    _download([model], not random_weights)
    config = vc.CompressConfig(model, BUILDS, tuple(formats), engine, pretrained=not random_weights)
    out, manifest = _build_stoppable(config, request.session_hash, _stepper(progress, 2 * len(formats) + 1))
    with vcache.using(out):
        files = [str(p) for p in compress_md.downloads(manifest, out)]
        files += [str(vc.zip_build(out))] if files else []
    vcache.evict(BUILDS, keep=[out])  # the zip counts too
    return (compress_md.file_table(manifest), files,
            f"{compress_md.summary(manifest)}\n\n{weights_line({manifest.model: manifest.origin})}",
            compress_md.usage(manifest), compress_md.details(manifest), (model, str(out)), _cache_line())


@handled("The benchmark")
def on_benchmark(model: str, variants: list[str], batches: list[str], threads: int, random_weights: bool,
                 request: gr.Request, progress=gr.Progress(track_tqdm=True)):
    if not variants or not batches:
        raise gr.Error("Choose at least one variant and one batch size.")
    model = _model(model)
    _download([model], not random_weights)
    config = vb.BenchConfig(model, tuple(variants), tuple(sorted(int(b) for b in batches)), int(threads),
                            builds=BUILDS, pretrained=not random_weights)
    report, cached = _bench_stoppable(config, request.session_hash, _stepper(progress, 4 * len(variants) + 2))
    if not cached:  # Classify's fast path runs the fastest passing file on this CPU class from now on
        vb.record_fastest_file(report, BUILDS)
    smallest, tradeoff = _plot_frames(report.rows())
    out = vb.result_dir(config, BUILDS)
    origin = report.config.get("origin")  # None in a report saved before runs recorded it
    about = bench_md.summary(report, cached) + (f"\n\n{weights_line({model: origin})}" if origin else "")
    return (about, bench_md.result_table(report), smallest, smallest, tradeoff,
            [str(out / vb.RESULT), str(out / "bench.csv")], bench_md.details(report))


@handled("Stopping the benchmark")
def on_stop_benchmark(request: gr.Request):
    if request.session_hash in _benches:
        _benches[request.session_hash].set()


@handled("Stopping the build")
def on_stop_build(request: gr.Request):
    if request.session_hash in _builds:
        _builds[request.session_hash].set()


def _last_build(last_build, what: str) -> tuple[str, Path]:
    """The session's last build, (model, folder), still in the build cache."""
    if not last_build:
        raise gr.Error(f"Build files in the Compress tab first: {what}.")
    model, build = last_build
    if not vcache.finished(build):
        raise gr.Error("The last build was removed from the build cache to make room for newer ones: build it "
                       "again in the Compress tab (its files are built again, or found if another visitor has).")
    vcache.touch(build)
    return model, Path(build)


@handled("Rendering the card")
def on_card(last_build):
    model, build = _last_build(last_build, "the card describes them")
    return _card_page(*vcard.card_preview(model, build, benchmark=vb.latest_report(BUILDS, model)))


def _publish(last_build, repo_id: str, private: bool, files: list[str], want_pr: bool, token: str, progress) -> str:
    model, build = _last_build(last_build, "publishing sends them with their card")
    if not files:
        raise gr.Error("Choose at least one file to publish.")
    with vcache.using(build):  # the build cache keeps it while it uploads
        result = signin.publish_from_page(model, build, repo_id, token=token, private=private, files=tuple(files),
                                          want_pr=want_pr, progress=_stepper(progress, 8))
    return signin.result_markdown(result)


@handled("Publishing")
def on_publish(last_build, repo_id, private, files, want_pr, progress=gr.Progress(track_tqdm=True)):
    """Run anywhere but a Space: with the token this app was started with."""
    return _publish(last_build, repo_id, private, files, want_pr, signin.local_token(), progress)


@handled("Publishing")
def on_publish_signed_in(last_build, repo_id, private, files, want_pr, oauth_token: gr.OAuthToken | None,
                         progress=gr.Progress(track_tqdm=True)):
    """On a Space with sign-in: with the token the visitor's sign-in gave this request, kept nowhere."""
    if oauth_token is None:
        raise gr.Error("Sign in with Hugging Face first (the button at the top): the files go to your account.")
    return _publish(last_build, repo_id, private, files, want_pr, oauth_token.token, progress)


def _publish_choices(last_build, user: str | None):
    """The repository suggested for a build, and its files to tick."""
    if not last_build:
        return gr.update(), gr.update()
    model, build = last_build
    built, passing = signin.built_files(Path(build))
    repo = signin.default_repo_id(user, model) if user else gr.update()
    return repo, gr.CheckboxGroup(choices=built, value=passing)


def on_new_build(last_build):
    return _publish_choices(last_build, signin.local_user())


def on_new_build_signed_in(last_build, profile: gr.OAuthProfile | None):
    return _publish_choices(last_build, profile.username if profile else None)


# --- tabs ------------------------------------------------------------------------------------------------------

def classify_tab(choices: list[tuple[str, str]], pair: tuple[str, str]) -> None:
    with gr.Tab("Classify"):
        with gr.Row():
            with gr.Column():
                image = RawImage(sources=["upload", "webcam", "clipboard"], type="filepath", label="Image",
                                 height=300, elem_id="input-image")
                with gr.Row():
                    model_a = gr.Dropdown(choices, value=pair[0], label="Model A", info=MODEL_INFO,
                                          allow_custom_value=True, elem_id="model-a")
                    model_b = gr.Dropdown(choices, value=pair[1], label="Model B", info=MODEL_INFO,
                                          allow_custom_value=True, elem_id="model-b")
                with gr.Row():
                    random_weights = gr.Checkbox(False, label="Architecture only", info=RANDOM_INFO)
                    fast = gr.Checkbox(False, label="Fast CPU path", info="int8 for x86, compiled; the first use "
                                       "builds it: seconds here, minutes for base models")
                run = gr.Button("Classify", variant="primary")
                # Not cached: an answer depends on the models, weights, path and map chosen, which Gradio's example
                # cache does not see; a click sets the image, whose change runs the pair (loaded at start-up)
                label, paths = example_set(pair)
                examples = gr.Examples([str(p) for p in paths], inputs=image, label=label, elem_id="examples",
                                       examples_per_page=16)
            with gr.Column():
                with gr.Row():
                    label_a = Label(num_top_classes=TOP_K, label="Model A", elem_id="label-a")
                    label_b = Label(num_top_classes=TOP_K, label="Model B", elem_id="label-b")
                summary = gr.Markdown(elem_id="summary")
        with gr.Row():
            method = gr.Radio([("attention rollout", "rollout"), ("last layer", "last"), ("off", "off")],
                              value="rollout", label="Attention map",
                              info="the class token's; DeiT's distillation token beside it. Off: faster answers, "
                                   "no maps or heads")
        with gr.Row():
            # JPEG: a tenth of PNG's encoding time for these figures, their text still crisp. Side by side on a
            # laptop; each at least MAP_WIDTH wide, so stacked on a phone
            map_a = gr.Image(label="Model A: where it looks", elem_id="map-a", interactive=False, format="jpeg",
                             show_label=False, min_width=MAP_WIDTH)
            map_b = gr.Image(label="Model B: where it looks", elem_id="map-b", interactive=False, format="jpeg",
                             show_label=False, min_width=MAP_WIDTH)
        heads = gr.Markdown(elem_id="heads")
    inputs = [image, model_a, model_b, random_weights, fast, method]
    outputs = [label_a, label_b, summary, map_a, map_b, heads]
    batched = dict(concurrency_limit=CLASSIFY_CONCURRENCY, concurrency_id="classify")
    run.click(on_classify, inputs, outputs, api_name="classify", **batched)
    for trigger in (image.change, model_a.change, model_b.change, random_weights.change, fast.change, method.change):
        trigger(on_change, inputs, outputs, api_name=False, **batched)
    for box in (model_a, model_b):
        box.change(on_models, [model_a, model_b], examples.dataset, api_name=False, show_progress="hidden")


def compress_tab(choices: list[tuple[str, str]], model: str) -> gr.State:
    """The Compress tab; returns the state that holds its last build (model, folder), which the card describes."""
    with gr.Tab("Compress"):
        gr.Markdown("Build deployable files, check each in its own runtime against the fp32 model, download them.")
        with gr.Row():
            c_model = gr.Dropdown(choices, value=model, label="Model", info=MODEL_INFO, allow_custom_value=True,
                                  elem_id="compress-model")
            engine = gr.Dropdown(["auto", "x86", "onednn", "fbgemm", "qnnpack"], value="auto",
                                 label="int8 engine", info="auto: x86 on x86-64, qnnpack on ARM")
            random_weights = gr.Checkbox(False, label="Architecture only", info=RANDOM_INFO)
        formats = gr.CheckboxGroup(list(VARIANTS), value=list(default_files()), label="Files")
        with gr.Row():
            run = gr.Button("Build", variant="primary")
            stop = gr.Button("Stop", variant="stop", elem_id="compress-stop")
        cache_line = gr.Markdown(_cache_line, elem_id="compress-cache")  # read again at each page load
        about = gr.Markdown(elem_id="compress-about")
        table = gr.Dataframe(headers=list(compress_md.COLUMNS.values()), elem_id="compress-table", label=FILES_LABEL,
                             elem_classes="figures", interactive=False)
        with gr.Accordion("Details: status, format, runtime, passes, notes", open=False):
            details = gr.Markdown(elem_id="compress-details", elem_classes="details")
        files = gr.File(label="Downloads (each file, and all as a zip)", file_count="multiple",
                        elem_id="compress-files")
        with gr.Accordion("Usage", open=False):
            snippets = gr.Markdown()
        last_build = gr.State(None)
    run.click(on_build, [c_model, formats, engine, random_weights],
              [table, files, about, snippets, details, last_build, cache_line],
              api_name="compress", concurrency_limit=1)
    # not queued, so that it runs while the build does; named for API clients (the soak test)
    stop.click(on_stop_build, None, None, api_name="stop_build", api_visibility="undocumented", queue=False)
    return last_build


def benchmark_tab(choices: list[tuple[str, str]], model: str) -> None:
    with gr.Tab("Benchmark"):
        gr.Markdown("Latency and throughput of every variant in its own runtime, beside the tools a user would "
                    "pick instead (peers). Warm-up calls are not timed; each figure is over 20 timed calls.")
        with gr.Row():
            b_model = gr.Dropdown(choices, value=model, label="Model", info=MODEL_INFO, allow_custom_value=True,
                                  elem_id="bench-model")
            threads = gr.Slider(1, os.cpu_count() or 1, value=os.cpu_count() or 1, step=1, label="Threads")
            random_weights = gr.Checkbox(False, label="Architecture only", info=RANDOM_INFO)
        variants = gr.CheckboxGroup(list(BENCH_VARIANTS), value=BENCH_DEFAULT, label="Variants")
        batches = gr.CheckboxGroup(["1", "8", "32"], value=["1"], label="Batch sizes")
        with gr.Row():
            run = gr.Button("Run benchmark", variant="primary")
            stop = gr.Button("Stop", variant="stop")
        about = gr.Markdown(elem_id="bench-about")
        table = gr.Dataframe(headers=list(bench_md.COLUMNS.values()), elem_id="bench-table", label=RESULTS_LABEL,
                             elem_classes="figures", interactive=False)
        with gr.Accordion("Details: runtime, profiler time, notes", open=False):
            details = gr.Markdown(elem_id="bench-details", elem_classes="details")
        with gr.Row():
            latency = gr.BarPlot(x="variant", y="p50_ms", color="peer", title="p50 latency, smallest batch (ms)",
                                 sort="y", x_label_angle=-40, elem_id="bench-latency")
            speedup = gr.BarPlot(x="variant", y="speedup", color="peer", title="Speed-up over eager fp32",
                                 sort="-y", x_label_angle=-40)
            tradeoff = gr.ScatterPlot(x="size_mb", y="agreement", color="variant",
                                      title="File size (MB) against top-1 agreement with fp32")
        files = gr.File(label="Results (JSON, CSV)", file_count="multiple", elem_id="bench-files")
    run.click(on_benchmark, [b_model, variants, batches, threads, random_weights],
              [about, table, latency, speedup, tradeoff, files, details], api_name="bench", concurrency_limit=1)
    stop.click(on_stop_benchmark, None, None, api_name=False, queue=False)


def card_tab(last_build: gr.State, access: signin.PageAccess) -> None:
    with gr.Tab("Model card"):
        gr.Markdown("The Hugging Face model card of the last build in the Compress tab: metadata, files, "
                    "fidelity, usage, training recipe and citations.")
        run = gr.Button("Render the card of the last build", variant="primary")
        meta = gr.Code(language="yaml", label="Metadata (front matter)")
        body = gr.Markdown(elem_id="card-preview")
        files = gr.File(label="README.md, with the images it shows", file_count="multiple", elem_id="card-file")
        publish_section(last_build, access)
    run.click(on_card, last_build, [meta, body, files], api_name="card")


def publish_section(last_build: gr.State, access: signin.PageAccess) -> None:
    gr.Markdown(f"### Publish to the Hugging Face Hub\n{access.message}", elem_id="publish-access")
    if access.mode == "none":
        return
    with gr.Row():
        repo = gr.Textbox(label="Repository", placeholder="you/model-vitspace", elem_id="publish-repo",
                          info="NAMESPACE/NAME; yours by default")
        private = gr.Checkbox(False, label="Private", info="for a new repository")
        want_pr = gr.Checkbox(False, label="Open a pull request",
                              info="always, where you cannot write to the repository")
    include = gr.CheckboxGroup(list(VARIANTS), value=[], label="Files", elem_id="publish-files",
                               info="the built files to publish with the card; those that failed the fidelity "
                                    "gate are unticked")
    send = gr.Button("Publish", variant="primary", elem_id="publish")
    outcome = gr.Markdown(elem_id="publish-result")
    signed_in = access.mode == "signin"
    last_build.change(on_new_build_signed_in if signed_in else on_new_build, last_build, [repo, include],
                      api_name=False)
    send.click(on_publish_signed_in if signed_in else on_publish, [last_build, repo, private, include, want_pr],
               outcome, api_name="publish", concurrency_limit=1)


def build_demo() -> gr.Blocks:
    pair, choices, access = vs.default_pair(), _choices(), signin.page_access()
    with gr.Blocks(title="vitspace: ViT vs DeiT") as demo:
        with gr.Row():
            gr.Markdown("# vitspace\nVision Transformers (ViT) and data-efficient, distilled ones (DeiT), side by "
                        "side.")
            if access.mode == "signin":
                gr.LoginButton(scale=0)
        classify_tab(choices, pair)
        last_build = compress_tab(choices, pair[1])
        benchmark_tab(choices, pair[1])
        card_tab(last_build, access)
    return demo


async def _busy(request, exc):
    """Gradio's 503 (its queue is full, or it is stopping) in words a user can act on; the browser says its own."""
    return JSONResponse({"detail": BUSY}, status_code=503, headers={"Retry-After": "2"})


def _warm(names) -> None:
    for name in names:
        try:
            vx.prepare_runtime(vs.get_classifier(name))  # Classify's runtime chosen in the background
        except vs.VitspaceError:
            pass  # the first request shows why


demo = build_demo()

if __name__ == "__main__":
    limit_malloc_arenas()
    vcache.sweep(BUILDS)  # what a crash left half-built
    vcache.evict(BUILDS)  # back under the limit, which may have been lowered
    vc.build_apart()  # a build's leftovers in memory go with its child process: the Space runs for weeks
    threading.Thread(target=_warm, args=(vs.default_pair(),), daemon=True).start()
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE).launch(
        max_file_size="25mb", allowed_paths=SERVED, css=CSS, state_session_capacity=SESSIONS,
        app_kwargs={"exception_handlers": {503: _busy}})
