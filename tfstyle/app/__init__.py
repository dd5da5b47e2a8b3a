"""The web app (`python -m tfstyle.app`): every engine in a browser page, on the library's public API.

* `config`: `AppConfig`, the app's settings and limits;
* `uploads`: checks of an uploaded file before it is decoded (type, bytes, pixels, clip length);
* `models`: the models found under `--models_dir`, by display name;
* `commands`: the command line that makes the same result;
* `engines`: one thin call of the library per panel; `jobs`: running one in a worker thread, streamed, with Cancel;
* `handlers`: what each button does; `ui`: the page (Gradio Blocks); `__main__`: the CLI.
"""
