"""Pipeline documents: the schema, validation rules (each error names node, component and the
property or port), and the catalog: every component of spec 10 present, every one built with
its defaults by the library it maps onto (generated, one test per component)."""

from __future__ import annotations

import copy
import inspect
import json
import os
from pathlib import Path

import pytest


def _import_keras_on_torch() -> None:
    """Keras 3 reads KERAS_BACKEND once, when it is first imported: set it for that import only.
    Left in os.environ it would reach every job later tests submit (a job starts from its
    submitter's environment) and turn TensorFlow's own Keras into a torch one."""
    old = os.environ.get("KERAS_BACKEND")
    os.environ["KERAS_BACKEND"] = "torch"
    try:
        import keras  # noqa: F401
    finally:
        if old is None:
            os.environ.pop("KERAS_BACKEND")
        else:
            os.environ["KERAS_BACKEND"] = old


_import_keras_on_torch()

from core.config import load_config  # noqa: E402
from core.errors import ValidationErrors  # noqa: E402
from core.pipelines import document  # noqa: E402
from core.pipelines.catalog import Catalog  # noqa: E402
from core.pipelines.components import CATEGORIES  # noqa: E402
from core.pipelines.runner import load, target  # noqa: E402
from core.plugins import Registry  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((ROOT / "examples" / "pipelines" / "iris_svc.json").read_text())
CATALOG = Catalog(Registry(load_config({"HPCAI_DATA_DIR": "/nonexistent"})).active)

# Spec 10's components by section (names as the catalog spells them).
SPEC_DATA = ["fluent_extract", "cfdpp_extract", "csv_dataset_import", "csv_import", "image_folder", "numeric_dataset",
             "image_dataset", "tfrecord_dataset", "custom_reader", "select_features", "input_features", "data_split",
             "save_data", "custom_processing", "dropna", "fillna", "drop_duplicates", "standardise", "drop",
             "sort_values", "merge", "feature_encoding", "label_binarize", "gaussian_augment", "resize", "blur",
             "box_filter", "gaussian_blur", "median_blur", "bilateral_filter", "filter2d", "crop", "threshold",
             "adaptive_threshold", "cvt_color", "split_channels", "filename_labelled", "folder_labelled",
             "random_flip", "random_scale", "random_translate", "random_rotate", "random_shear"]
SPEC_DL = ["custom_model", "model_training", "Sequential", "Input", "Dense", "Activation", "Dropout", "Reshape",
           "LeakyReLU", "Embedding", "Masking", "Lambda", "Concatenate", "Add", "Multiply", "Flatten", "RepeatVector",
           "TimeDistributed", "Bidirectional", "custom_layer", "Conv1D", "Conv2D", "Conv2DTranspose",
           "DepthwiseConv2D", "SeparableConv2D", "Conv3D", "Conv3DTranspose", "ZeroPadding1D", "ZeroPadding2D",
           "Cropping1D", "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D", "MaxPooling1D",
           "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
           "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalMaxPooling1D",
           "GlobalMaxPooling2D", "GlobalMaxPooling3D", "BatchNormalization", "SimpleRNN", "GRU", "LSTM", "ConvLSTM2D",
           "SimpleRNNCell", "GRUCell", "LSTMCell", "CuDNNGRU", "CuDNNLSTM", "Attention", "AdditiveAttention",
           "MultiHeadAttention", "app_densenet", "app_efficientnet", "app_InceptionResNetV2", "app_InceptionV3",
           "app_MobileNet", "app_MobileNetV2", "app_nasnet", "app_resnet", "app_resnet_v2", "app_VGG16", "app_VGG19",
           "app_Xception", "model_library", "tensorboard", "model_evaluation"]
SPEC_SKLEARN = ["KNeighborsClassifier", "RadiusNeighborsClassifier", "NearestCentroid", "KNeighborsRegressor",
                "RadiusNeighborsRegressor", "LinearSVC", "SVC", "NuSVC", "LinearSVR", "SVR", "NuSVR",
                "DecisionTreeClassifier", "ExtraTreeClassifier", "DecisionTreeRegressor", "ExtraTreeRegressor",
                "BernoulliNB", "GaussianNB", "LogisticRegression", "ARDRegression", "BayesianRidge", "ElasticNet",
                "Lars", "Lasso", "LinearRegression", "AgglomerativeClustering", "KMeans", "SpectralClustering",
                "DBSCAN", "MiniBatchKMeans", "IsolationForest"]
SPEC_VISION = ["image_classification", "ssd", "yolov3", "yolov4", "yolov5", "m2det", "faster_rcnn", "centernet",
               "maskrcnn", "Unet", "FPN", "PSPNet", "Linknet", "FaceNet", "humanpose", "meshgraphnets"]
SPEC_PREDICTION = ["numeric_prediction", "image_prediction", "simulation_prediction", "custom_prediction"]


def errors_of(doc: dict) -> list[dict]:
    with pytest.raises(ValidationErrors) as info:
        document.validate(doc, CATALOG, for_run=True)
    return [e.as_dict() for e in info.value.errors]


# --- the catalog -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SPEC_DATA + SPEC_DL + SPEC_SKLEARN + SPEC_VISION + SPEC_PREDICTION)
def test_every_spec_component_is_in_the_catalog(name: str) -> None:
    comp = CATALOG.get(name)
    assert comp.category in CATEGORIES
    assert callable(load(comp.run)), comp.run


def test_palette_has_the_nine_categories_first_and_search() -> None:
    palette = CATALOG.palette()
    assert [c["category"] for c in palette][:9] == list(CATEGORIES)
    found = CATALOG.palette("conv2d")
    names = {c["name"] for cat in found for c in cat["components"]}
    assert {"Conv2D", "Conv2DTranspose", "DepthwiseConv2D", "SeparableConv2D"} <= names
    assert "Dense" not in names


def test_unavailable_components_say_why() -> None:
    for name in ["ssd", "yolov5", "meshgraphnets", "fluent_extract", "tfrecord_dataset"]:
        assert "weights" in CATALOG.get(name).unavailable or "TensorFlow" in CATALOG.get(name).unavailable \
            or "this machine" in CATALOG.get(name).unavailable, name
    assert CATALOG.get("image_classification").unavailable == ""


KERAS = [c for c in CATALOG.all() if c.target.startswith("keras.layers.")]
SKLEARN = [c for c in CATALOG.all() if c.target.startswith("sklearn.") and c.run.endswith(":fit")]
APPS = [c for c in CATALOG.all() if c.target.startswith("keras.applications.")]


@pytest.mark.parametrize("comp", KERAS, ids=[c.name for c in KERAS])
def test_every_keras_layer_builds_with_its_defaults(comp) -> None:  # type: ignore[no-untyped-def]
    """Each property the row passes is a real keyword of the Keras 3 class, and the defaults build."""
    from plugins.pipelines.keras.run import layer_kwargs

    cls = target(comp.target)
    props = document.normalise(comp, {})
    kwargs = layer_kwargs(comp.library_kwargs(props))
    accepted = set(inspect.signature(cls.__init__ if inspect.isclass(cls) else cls).parameters) | {
        "name", "dtype", "trainable"}
    assert set(kwargs) <= accepted, set(kwargs) - accepted
    if comp.name == "Lambda":
        cls(function=lambda x: x, **kwargs)
    elif comp.name.endswith("Cell"):
        target("keras.layers.RNN")(cls(**kwargs))
    elif comp.name in ("TimeDistributed", "Bidirectional"):
        cls(target("keras.layers.LSTM")(4), **kwargs)
    else:
        cls(**kwargs)


@pytest.mark.parametrize("comp", SKLEARN, ids=[c.name for c in SKLEARN])
def test_every_sklearn_estimator_fits_with_its_defaults(comp) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    cls = target(comp.target)
    kwargs = comp.library_kwargs(document.normalise(comp, {}))
    assert set(kwargs) <= set(inspect.signature(cls.__init__).parameters), set(kwargs) - set(
        inspect.signature(cls.__init__).parameters)
    est = cls(**kwargs)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    est.fit(X, y)


@pytest.mark.parametrize("comp", APPS, ids=[c.name for c in APPS])
def test_every_base_network_validates_and_maps_onto_keras_applications(comp) -> None:  # type: ignore[no-untyped-def]
    fn = target(comp.target)
    kwargs = comp.library_kwargs(document.normalise(comp, {}))
    assert set(kwargs) <= set(inspect.signature(fn).parameters)
    assert kwargs.get("weights") is None  # random initialisation: nothing is downloaded


def test_a_small_base_network_builds_from_random_initialisation() -> None:
    from plugins.pipelines.keras.run import Net, application
    from core.pipelines.runner import RunContext, Step

    comp = CATALOG.get("app_MobileNetV2")
    props = document.normalise(comp, {"alpha": 0.35})
    step = Step("m", comp.name, comp.title, comp.target, props, comp.library_kwargs(props), {},
                RunContext(Path("/tmp"), "t", "i"))
    net: Net = application(step)["model"]
    assert net.model.output_shape == (None, 10)


def test_every_component_default_properties_validate() -> None:
    """A node with only its required properties filled has no property error (valid defaults)."""
    bad = []
    for comp in CATALOG.all():
        doc = {"format": 1, "nodes": [{"id": "n", "component": comp.name,
                                       "properties": {k: "x" for k in comp.required}}], "edges": []}
        try:
            document.validate(doc, CATALOG)
        except ValidationErrors as exc:
            bad += [e.text for e in exc.errors if getattr(e, "prop", None)]
    assert bad == []


# --- validation rules ----------------------------------------------------------------------------

def test_the_example_is_valid_and_ordered() -> None:
    p = document.validate(EXAMPLE, CATALOG, for_run=True)
    assert [n.id for n in p.nodes] == ["csv", "select", "split", "scale", "svc", "eval"]
    assert p.nodes[4].properties["C"] == 0.5 and p.nodes[4].properties["kernel"] == "rbf"


def test_empty_pipeline() -> None:
    errs = errors_of({"format": 1, "nodes": [], "edges": []})
    assert "no components" in errs[0]["text"] and "组件不能为空" in errs[0]["text"]


def test_unknown_component_names_the_node() -> None:
    doc = copy.deepcopy(EXAMPLE)
    doc["nodes"][4]["component"] = "SVCC"
    errs = errors_of(doc)
    assert any(e["node"] == "svc" and "unknown component 'SVCC'" in e["text"] for e in errs)


def test_missing_required_property() -> None:
    doc = copy.deepcopy(EXAMPLE)
    del doc["nodes"][0]["properties"]["file"]
    (err,) = errors_of(doc)
    assert (err["node"], err["component"], err["property"]) == ("csv", "csv_import", "file")
    assert err["text"].startswith("nodes.csv.file: component csv_import (csv), property file: is required")


def test_wrong_type_and_range() -> None:
    doc = copy.deepcopy(EXAMPLE)
    doc["nodes"][4]["properties"]["C"] = "lots"
    doc["nodes"][4]["properties"]["kernel"] = "cubic"
    doc["nodes"][2]["properties"]["ratio"] = "70-30"
    errs = {(e["node"], e["property"]): e["text"] for e in errors_of(doc)}
    assert "must be of type" in errs[("svc", "C")]
    assert "'cubic' is not allowed" in errs[("svc", "kernel")] and "choose one of" in errs[("svc", "kernel")]
    assert "8:1:1" in errs[("split", "ratio")]


def test_unknown_property() -> None:
    doc = copy.deepcopy(EXAMPLE)
    doc["nodes"][4]["properties"]["c"] = 1
    (err,) = errors_of(doc)
    assert err["property"] == "c" and "is not a property" in err["text"] and "kernel" in err["fix"]


def test_text_typed_tuples_are_parsed() -> None:
    doc = {"format": 1, "nodes": [{"id": "c", "component": "Conv2D",
                                   "properties": {"kernel_size": "(3, 3)", "input_shape": "(28, 28, 1)",
                                                  "filters": "8"}}], "edges": []}
    node = document.validate(doc, CATALOG).nodes[0]
    assert node.properties["kernel_size"] == [3, 3] and node.properties["filters"] == 8
    assert CATALOG.get("Conv2D").library_kwargs(node.properties)["kernel_size"] == (3, 3)


def test_unconnected_required_port() -> None:
    doc = copy.deepcopy(EXAMPLE)
    doc["edges"] = [e for e in doc["edges"] if e["to"]["node"] != "eval"]
    (err,) = errors_of(doc)
    assert (err["node"], err["port"]) == ("eval", "model") and "not connected" in err["text"]


def test_port_type_mismatch() -> None:
    doc = copy.deepcopy(EXAMPLE)
    doc["edges"].append({"from": {"node": "csv", "port": "data"}, "to": {"node": "eval", "port": "model"}})
    errs = errors_of(doc)
    assert any(e["port"] == "model" and "takes trained" in e["text"] for e in errs)


def test_cycle() -> None:
    doc = copy.deepcopy(EXAMPLE)
    doc["edges"].append({"from": {"node": "scale", "port": "data"}, "to": {"node": "select", "port": "data"}})
    errs = errors_of(doc)
    assert any("cycle" in e["text"] for e in errs)


def test_unavailable_component_refused_for_run_only() -> None:
    doc = {"format": 1, "nodes": [{"id": "y", "component": "yolov5", "properties": {}},
                                  {"id": "c", "component": "image_folder", "properties": {"directory": "/tmp"}}],
           "edges": [{"from": {"node": "c", "port": "images"}, "to": {"node": "y", "port": "data"}}]}
    document.validate(doc, CATALOG)
    errs = errors_of(doc)
    assert errs[0]["node"] == "y" and "cannot run here" in errs[0]["text"]


def test_structure_errors() -> None:
    errs = errors_of({"format": 2, "nodes": {}, "edges": []})
    assert {e["field"] for e in errs} == {"format", "nodes"}


IMAGE_OPS = [c for c in CATALOG.all() if c.run.endswith(":image_op") or c.run.endswith(":detection_augment")]


@pytest.mark.parametrize("comp", IMAGE_OPS, ids=[c.name for c in IMAGE_OPS])
def test_every_image_component_runs_with_its_defaults(comp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """OpenCV does the work: each image pre-processing / augmentation row on a real image."""
    import numpy as np

    from core.pipelines.runner import RunContext, Step

    img = (np.arange(48 * 64 * 3) % 251).astype("uint8").reshape(48, 64, 3)
    data = {"images": [img], "names": ["a.png"], "labels": ["x"], "root": str(tmp_path),
            "boxes": {"a.png": np.array([[4.0, 4.0, 30.0, 30.0]])}}
    props = document.normalise(comp, {})
    step = Step("n", comp.name, comp.title, comp.target, props, comp.library_kwargs(props), {"images": [data]},
                RunContext(tmp_path, "t", "i"))
    out = load(comp.run)(step)["images"]
    assert out["images"] and all(isinstance(i, np.ndarray) and i.size for i in out["images"])
    if comp.name == "resize":
        assert out["images"][0].shape[:2] == (32, 32)
    if comp.name == "split_channels":
        assert len(out["images"]) == 3
