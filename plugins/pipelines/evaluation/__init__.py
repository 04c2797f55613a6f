"""Model evaluation and model prediction components (spec 10 §2.4 Model evaluation, §4).

They work on any trained model (port type `trained`): the training plugin gives it a predict
function, so evaluation knows no library. Job-side code: plugins.pipelines.evaluation.run.
"""

from __future__ import annotations

from core.hookspecs import hookimpl
from core.pipelines.components import Component, inp, out, prop

RUN = "plugins.pipelines.evaluation.run"
MODEL_IN = inp("model", "trained")
DATA_IN = inp("data", "table", required=False)
PRED_OUT = out("predictions", "table")
VISION = "the vision algorithms need pretrained weights or annotated data sets this machine cannot fetch"


@hookimpl
def hpcai_pipeline_components() -> list[Component]:
    return [
        Component("model_library", "Model library", "Model library", f"{RUN}:load_model",
                  description="a trained model from the model registry (incremental training, prediction)",
                  outputs=(out("model", "trained"),),
                  properties={"model_name": prop("str", None, "Model name", widget="registry-model"),
                              "version": prop("str", None, "Model version")}, required=("model_name",),
                  resolve="model-registry",
                  note="the engine asks the model registry for the version's .keras or .joblib file at Run "
                       "(the latest version when Model version is empty)"),
        Component("model_evaluation", "Model evaluation", "Model result visualisation", f"{RUN}:evaluate",
                  description="metrics of a trained model on the test rows (else validation, else all); "
                              "the instance gets an evaluation tab",
                  inputs=(MODEL_IN, DATA_IN), outputs=(out("report", "table"),),
                  properties={"part": prop("str", "auto", "Rows", enum=("auto", "test", "val", "train", "all"),
                                           nullable=False)}),
        Component("numeric_prediction", "Numeric model prediction", "Model prediction", f"{RUN}:predict",
                  inputs=(MODEL_IN, DATA_IN), outputs=(PRED_OUT,),
                  properties={"model_type": prop("str", "classification", "Model type to infer", nullable=False,
                                                 enum=("classification", "regression", "clustering")),
                              "confidence": prop("float", 0.5, "Confidence", minimum=0, maximum=1)},
                  note="writes predictions.csv into the instance data"),
        Component("image_prediction", "Image model prediction", "Model prediction", f"{RUN}:predict",
                  inputs=(MODEL_IN, inp("images", "images", required=False)), outputs=(PRED_OUT,),
                  properties={"model_type": prop("str", "ssd", "Model type to infer",
                                                 enum=("ssd", "yolov3", "yolov4", "yolov5", "m2det", "faster_rcnn",
                                                       "centernet", "maskrcnn", "Unet", "FPN", "PSPNet", "Linknet",
                                                       "FaceNet", "humanpose", "classification")),
                              "confidence": prop("float", 0.5, "Confidence", minimum=0, maximum=1),
                              "distance_threshold": prop("float", 1.1, "FaceNet distance threshold", minimum=0,
                                                         maximum=4),
                              "nms_iou": prop("float", 0.3, "nms_iou", minimum=0, maximum=1),
                              "backbone": prop("str", "vgg16", "backbone"),
                              "activation": prop("str", "softmax", "Activation")},
                  note="runs image classification models trained here; " + VISION),
        Component("simulation_prediction", "Simulation result prediction", "Model prediction", f"{RUN}:predict",
                  inputs=(MODEL_IN, DATA_IN), outputs=(PRED_OUT,),
                  properties={"model_type": prop("str", "meshgraphnets", "Model type to infer",
                                                 enum=("meshgraphnets",))},
                  unavailable="meshgraphnets needs CFD simulation meshes this machine does not have"),
        Component("custom_prediction", "Custom prediction", "Model prediction", f"{RUN}:custom_predict",
                  inputs=(inp("model", "trained", required=False), DATA_IN), outputs=(PRED_OUT,),
                  properties={"files": prop("list", None, "Data file", description="dependency files"),
                              "function": prop("str", "predict", "Prediction function name"),
                              "script": prop("code", "def predict(model, frame):\n    \"\"\"Return a list or "
                                             "array of predictions, one per row.\"\"\"\n"
                                             "    return model.predict(frame)\n", "Script")},
                  required=("function", "script")),
    ]
