"""The page: one content/style picker shared by four panels (Optimise, Fast, Translate, Video), built with
`gr.Blocks` on a `handlers.Handlers`.

Every element a test or a screenshot touches has an `elem_id` (`#content`, `#opt-run`, `#fast-result`, ...).
Every engine call goes through Gradio's queue under one concurrency id (`DEVICE`, limit 1): one job at a time
on the device, the rest wait in line. Uploads are checked as they arrive and again when a panel runs.
"""

from __future__ import annotations

import os

import gradio as gr

from tfstyle.app.handlers import STYLE_CONTROLS, Handlers
from tfstyle.fast.config import ASSETS
from tfstyle.optimize import config as optimize_config
from tfstyle.options import PRESERVE_COLORS

DEVICE = "device"  # the concurrency id every engine call shares
SAMPLE_CONTENT = os.path.join(ASSETS, "astronaut.jpg")
SAMPLE_STYLE = os.path.join(ASSETS, "vangogh_starry_night.jpg")
TITLE = "tfstyle"
INTRO = ("Paint a photo in the style of a painting. Choose a photo and a painting (the samples are already "
         "there), then a panel: **Optimise** (slow, the best quality, any painting), **Fast** (a trained network, "
         "about a second), **Translate** (a CycleGAN network) or **Video**. Beside every result: the command line "
         "that makes the same picture, and a download button. Everything runs on this computer.")


def _result_column(prefix: str, with_progress: bool, video: bool = False) -> dict:
    """The output side of a panel: result, status, (progress bar), command, download."""
    parts = {}
    if video:
        parts["result"] = gr.Video(label="Result", elem_id=f"{prefix}-result", interactive=False, format=None)
    else:
        parts["result"] = gr.Image(label="Result", elem_id=f"{prefix}-result", type="filepath", format="png",
                                   interactive=False, buttons=["fullscreen"])
    parts["status"] = gr.Markdown("", elem_id=f"{prefix}-status")
    if with_progress:
        parts["progress"] = gr.HTML("", elem_id=f"{prefix}-progress")
    parts["command"] = gr.Textbox(label="Command line that makes the same result", elem_id=f"{prefix}-command",
                                  interactive=False, lines=2, buttons=["copy"])
    parts["download"] = gr.DownloadButton("Download", elem_id=f"{prefix}-download", visible=False)
    return parts


def build(handlers: Handlers, has_gpu: bool = False) -> gr.Blocks:
    """The app's page on `handlers`; `has_gpu` picks the Optimise panel's default size and iterations (the
    machine defaults of `tfstyle.optimize`)."""
    catalog = handlers.catalog
    image_size = optimize_config.GPU_IMAGE_SIZE if has_gpu else optimize_config.CPU_IMAGE_SIZE
    iterations = optimize_config.GPU_ITERATIONS if has_gpu else optimize_config.CPU_ITERATIONS
    defaults = optimize_config.OptimizeConfig()
    queued = dict(concurrency_limit=1, concurrency_id=DEVICE)

    with gr.Blocks(title=TITLE, analytics_enabled=False) as page:
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        with gr.Row():
            content = gr.Image(SAMPLE_CONTENT, label="Photo (content)", type="filepath", image_mode=None,
                               sources=["upload", "clipboard"], elem_id="content", height=260)
            style = gr.Image(SAMPLE_STYLE, label="Painting (style)", type="filepath", image_mode=None,
                             sources=["upload", "clipboard"], elem_id="style", height=260)
            style2 = gr.Image(None, label="Second painting (optional, blended)", type="filepath", image_mode=None,
                              sources=["upload", "clipboard"], elem_id="style2", height=260)
        blend = gr.Slider(0.0, 1.0, 0.5, step=0.05, label="Blend: share of the first painting (with two)",
                          elem_id="style-blend")
        rescan = gr.Button("Rescan models", elem_id="rescan", size="sm")
        for picker in (content, style, style2):
            picker.upload(handlers.on_image_upload, inputs=picker, outputs=None, concurrency_limit=None)

        with gr.Tabs():
            with gr.Tab("Optimise", id="optimise", elem_id="panel-optimise"):
                with gr.Row():
                    with gr.Column():
                        opt_size = gr.Slider(64, 2048, image_size, step=32, label="Size (long side, px)",
                                             elem_id="opt-size")
                        opt_iterations = gr.Slider(1, 2000, iterations, step=1, label="Iterations",
                                                   elem_id="opt-iterations")
                        opt_optimizer = gr.Radio(list(optimize_config.OPTIMIZERS), value=defaults.optimizer,
                                                 label="Optimiser", elem_id="opt-optimizer")
                        opt_control = gr.Radio(list(STYLE_CONTROLS), value="default", label="Amount of style",
                                               info="default: the style loss's default weight; strength: 0..1, "
                                                    "the same look on any pair; style weight: beta itself",
                                               elem_id="opt-control")
                        opt_strength = gr.Slider(0.0, 1.0, 0.5, step=0.05, label="Strength", elem_id="opt-strength")
                        opt_style_weight = gr.Number(optimize_config.STYLE_WEIGHTS["gram"], label="Style weight",
                                                     elem_id="opt-style-weight")
                        opt_colors = gr.Radio(list(PRESERVE_COLORS), value="none", label="Keep the photo's colours",
                                              elem_id="opt-colors")
                        with gr.Accordion("Masks: where each painting paints", open=False):
                            opt_mask = gr.Image(None, label="Mask of painting 1 (white: paint)", type="filepath",
                                                image_mode=None, elem_id="opt-mask", height=160)
                            opt_mask2 = gr.Image(None, label="Mask of painting 2", type="filepath",
                                                 image_mode=None, elem_id="opt-mask2", height=160)
                            opt_preserve = gr.Image(None, label="Keep photographic (white: the photo)",
                                                    type="filepath", image_mode=None, elem_id="opt-preserve",
                                                    height=160)
                        with gr.Accordion("More settings", open=False):
                            opt_lr = gr.Number(defaults.learning_rate, label="Adam step size", elem_id="opt-lr")
                            opt_content_weight = gr.Number(defaults.content_weight, label="Content weight",
                                                           elem_id="opt-content-weight")
                            opt_tv = gr.Number(defaults.tv_weight, label="Smoothness (TV) weight", elem_id="opt-tv")
                            opt_scale = gr.Number(defaults.style_scale, label="Painting scale (relative to output)",
                                                  elem_id="opt-style-scale")
                            opt_init = gr.Radio(list(optimize_config.INITS), value=defaults.init,
                                                label="Start from", elem_id="opt-init")
                            opt_loss = gr.Radio(["gram", "mean_cov"], value=defaults.style_loss, label="Style loss",
                                                elem_id="opt-style-loss")
                            opt_seed = gr.Number(defaults.seed, label="Seed (noise start)", precision=0,
                                                 elem_id="opt-seed")
                        with gr.Row():
                            opt_run = gr.Button("Optimise", variant="primary", elem_id="opt-run")
                            opt_cancel = gr.Button("Cancel", variant="stop", elem_id="opt-cancel")
                    with gr.Column():
                        opt_out = _result_column("opt", with_progress=True)
            with gr.Tab("Fast", id="fast", elem_id="panel-fast"):
                with gr.Row():
                    with gr.Column():
                        fast_model = gr.Dropdown(catalog.names("fast", "arbitrary"), label="Network",
                                                 value=catalog.names("fast", "arbitrary")[0], elem_id="fast-model",
                                                 info="per-style networks paint their own painting; arbitrary-style "
                                                      "(AdaIN) networks paint the chosen one")
                        fast_alpha = gr.Slider(0.0, 1.0, 1.0, step=0.05, label="Strength (alpha, AdaIN networks)",
                                               elem_id="fast-alpha")
                        fast_colors = gr.Radio(list(PRESERVE_COLORS), value="none", label="Keep the photo's colours",
                                               elem_id="fast-colors")
                        fast_run = gr.Button("Stylise", variant="primary", elem_id="fast-run")
                    with gr.Column():
                        fast_out = _result_column("fast", with_progress=False)
            with gr.Tab("Translate", id="translate", elem_id="panel-translate"):
                with gr.Row():
                    with gr.Column():
                        names = catalog.names("cyclegan", "savedmodel")
                        tr_model = gr.Dropdown(names, value=names[0] if names else None, label="CycleGAN network",
                                               elem_id="tr-model",
                                               info="CycleGAN runs and SavedModel exports found under --models_dir")
                        tr_direction = gr.Radio(["a2b", "b2a"], value="a2b", label="Direction (CycleGAN runs)",
                                                elem_id="tr-direction")
                        tr_run = gr.Button("Translate", variant="primary", elem_id="tr-run")
                    with gr.Column():
                        tr_out = _result_column("tr", with_progress=False)
            with gr.Tab("Video", id="video", elem_id="panel-video"):
                with gr.Row():
                    with gr.Column():
                        clip = gr.Video(label="Clip", sources=["upload"], elem_id="video-input", format=None)
                        names = catalog.names("fast", "arbitrary", "cyclegan")
                        video_model = gr.Dropdown(names, value=names[0], label="Network", elem_id="video-model")
                        video_direction = gr.Radio(["a2b", "b2a"], value="a2b", label="Direction (CycleGAN)",
                                                   elem_id="video-direction")
                        video_alpha = gr.Slider(0.0, 1.0, 1.0, step=0.05, label="Strength (alpha, AdaIN networks)",
                                                elem_id="video-alpha")
                        video_colors = gr.Radio(list(PRESERVE_COLORS), value="none",
                                                label="Keep the clip's colours", elem_id="video-colors")
                        video_temporal = gr.Radio(["flow", "none"], value="flow",
                                                  label="Steady strokes (flow) or frame by frame (none)",
                                                  elem_id="video-temporal")
                        with gr.Row():
                            video_run = gr.Button("Paint the clip", variant="primary", elem_id="video-run")
                            video_cancel = gr.Button("Cancel", variant="stop", elem_id="video-cancel")
                    with gr.Column():
                        video_out = _result_column("video", with_progress=True, video=True)
        clip.upload(handlers.on_video_upload, inputs=clip, outputs=None, concurrency_limit=None)

        streamed = ["result", "status", "progress", "command", "download"]
        opt_run.click(handlers.optimize,
                      inputs=[content, style, style2, blend, opt_size, opt_iterations, opt_optimizer, opt_lr,
                              opt_control, opt_strength, opt_style_weight, opt_content_weight, opt_tv, opt_scale,
                              opt_colors, opt_init, opt_loss, opt_seed, opt_mask, opt_mask2, opt_preserve],
                      outputs=[opt_out[key] for key in streamed], show_progress="hidden", **queued)
        opt_cancel.click(handlers.cancel, inputs=None, outputs=opt_out["status"], queue=False)
        single = ["result", "status", "command", "download"]
        fast_run.click(handlers.fast, inputs=[content, style, style2, blend, fast_model, fast_alpha, fast_colors],
                       outputs=[fast_out[key] for key in single], show_progress="minimal", **queued)
        tr_run.click(handlers.translate, inputs=[content, tr_model, tr_direction],
                     outputs=[tr_out[key] for key in single], show_progress="minimal", **queued)
        video_run.click(handlers.video,
                        inputs=[clip, style, style2, blend, video_model, video_direction, video_alpha, video_colors,
                                video_temporal],
                        outputs=[video_out[key] for key in streamed], show_progress="hidden", **queued)
        video_cancel.click(handlers.cancel, inputs=None, outputs=video_out["status"], queue=False)
        rescan.click(handlers.rescan, inputs=None, outputs=[fast_model, tr_model, video_model], queue=False)
    return page
