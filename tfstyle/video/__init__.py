"""Video: stylise and translate clips frame by frame with temporal consistency (work in progress, issue 11).

* `io`: video files through PyAV and folders of numbered frames;
* `flow`: optical flow (OpenCV DIS), backward warping and the forward-backward occlusion mask;
* `temporal`: blending each output with the previous one carried along the flow, and the warping error;
* `settings`: `VideoArgs`, a job's settings; `pipeline.run`: one job, for the CLI and the web app.
"""
