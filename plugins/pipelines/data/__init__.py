"""Data components of the pipeline designer (spec 10 §1): extraction, loading, pre-processing,
numeric and image pre-processing, classification and detection augmentation.

The families are tables: each row is a component mapped onto the library call that does the
work (pandas for numeric tables, scikit-learn encoders and scalers, OpenCV for images). The
job-side code is plugins.pipelines.data.run; nothing here imports pandas or OpenCV.
"""

from __future__ import annotations

from core.hookspecs import hookimpl
from core.pipelines.components import Component, alias_prop, inp, out, prop

RUN = "plugins.pipelines.data.run"
EXTRACTION, LOADING, PRE = "Data extraction", "Data loading", "Data pre-processing"
TABLE_IN, TABLE_OUT = inp("data", "table"), out("data", "table")
IMG_IN, IMG_OUT = inp("images", "images"), out("images", "images")

CFD_UNAVAILABLE = ("the .rul rule-file format of the product's CFD extractors is not published and no "
                   "Fluent/CFD++ results exist on this machine")


def _c(name: str, title: str, category: str, fn: str, group: str = "", inputs: tuple = (), outputs: tuple = (),
       props: dict | None = None, required: tuple[str, ...] = (), **kw: object) -> Component:
    return Component(name=name, title=title, category=category, run=f"{RUN}:{fn}", group=group,
                     inputs=inputs, outputs=outputs, properties=props or {}, required=required, **kw)  # type: ignore[arg-type]


def _extraction() -> list[Component]:
    rule = {"rule_file": prop("file", None, "Rule file (.rul)"), "data": prop("file", None, "Data to extract")}
    return [
        _c("fluent_extract", "Fluent data extraction", EXTRACTION, "cfd_extract", outputs=(out("files", "files"),),
           props={"alias": alias_prop("Fluent data extraction"), **rule}, required=("rule_file", "data"),
           unavailable=CFD_UNAVAILABLE),
        _c("cfdpp_extract", "CFD++ data extraction", EXTRACTION, "cfd_extract", outputs=(out("files", "files"),),
           props={"alias": alias_prop("CFDpp data extraction"), **rule}, required=("rule_file", "data"),
           unavailable=CFD_UNAVAILABLE),
        _c("csv_dataset_import", "Import to CSV dataset", EXTRACTION, "save_csv",
           inputs=(inp("data", "files", "table"),), outputs=(TABLE_OUT,),
           props={"alias": alias_prop("Import to CSV dataset"),
                  "dataset_name": prop("str", None, "Generated dataset name")},
           required=("dataset_name",)),
    ]


def _loading() -> list[Component]:
    return [
        _c("csv_import", "Numeric data", LOADING, "read_csv", outputs=(TABLE_OUT,),
           props={"file": prop("file", None, "Data file", description=".csv or .tsv file"),
                  "header": prop("bool", True, "First row holds column names", nullable=False)},
           required=("file",), description="Imports a CSV/TSV file (the product's csvImport)"),
        _c("image_folder", "Image data", LOADING, "read_images", outputs=(IMG_OUT,),
           props={"directory": prop("dir", None, "Image files", description="one folder of images; "
                                    "sub-folders are taken as class labels")}, required=("directory",)),
        _c("numeric_dataset", "Numeric dataset", LOADING, "read_csv", outputs=(TABLE_OUT,),
           props={"dataset": prop("str", None, "Dataset", widget="dataset", x_category="numeric"),
                  "header": prop("bool", True, "First row holds column names", nullable=False)},
           required=("dataset",), note="the engine resolves the registered dataset to its file at Run"),
        _c("image_dataset", "Image dataset", LOADING, "read_images", outputs=(IMG_OUT,),
           props={"dataset": prop("str", None, "Dataset", widget="dataset", x_category="image")},
           required=("dataset",), note="the engine resolves the registered dataset to its folder at Run"),
        _c("tfrecord_dataset", "TFRecord dataset", LOADING, "unavailable", outputs=(out("data", "generator"),),
           props={"dataset": prop("str", None, "Dataset", widget="dataset"),
                  "auto_count": prop("bool", False, "Auto sample count")}, required=("dataset",),
           unavailable="TFRecord needs TensorFlow; the designer's deep-learning runs use Keras 3 on torch"),
        _c("custom_reader", "Custom data reading", LOADING, "custom_reader", outputs=(TABLE_OUT,),
           props={"file": prop("file", None, "Data file"), "function": prop("str", "read_data", "Function name"),
                  "train_size": prop("int", 100, "train_size", minimum=0),
                  "val_size": prop("int", 100, "val_size", minimum=0),
                  "script": prop("code", "import pandas as pd\n\n\ndef read_data(path):\n"
                                 "    \"\"\"Return a pandas DataFrame; the function name must match "
                                 "'Function name'.\"\"\"\n    return pd.read_csv(path)\n", "Script")},
           required=("function", "script")),
    ]


def _preprocessing() -> list[Component]:
    return [
        _c("select_features", "Select features", PRE, "select_features", inputs=(TABLE_IN,), outputs=(TABLE_OUT,),
           props={"features": prop("list", None, "Sample features", description="column names (model inputs); "
                                   "empty = every column that is not a label", widget="columns"),
                  "labels": prop("list", [], "Sample labels", description="column names (model outputs)",
                                 widget="columns")}),
        _c("input_features", "Input features", PRE, "input_features", inputs=(TABLE_IN,), outputs=(TABLE_OUT,),
           props={"features": prop("str", "all", "Sample features", description="0-based: [1, 2, 3], [1-4], [1], all"),
                  "labels": prop("str", "None", "Label features", description="same syntax; None = no labels")}),
        _c("data_split", "Data split", PRE, "data_split", inputs=(TABLE_IN,), outputs=(TABLE_OUT,),
           props={"ratio": prop("str", "8:1:1", "Train/Validation/Test", nullable=False, pattern=r"^\s*\d+(\.\d+)?\s*"
                                r"(:\s*\d+(\.\d+)?\s*){2}$", x_fix="write three numbers like 8:1:1 or 0.7:0:0.3"),
                  "seed": prop("int", 0, "Random seed", description="the same seed gives the same split"),
                  "stratify": prop("bool", False, "Keep label proportions", nullable=False)}),
        _c("save_data", "Save data", PRE, "save_csv", inputs=(inp("data", "table"),), outputs=(TABLE_OUT,),
           props={"dataset_name": prop("str", None, "Generated dataset name"),
                  "dataset_type": prop("str", "numeric", "Dataset type", enum=("numeric", "image"), nullable=False)},
           required=("dataset_name",), note="writes <dataset_name>.csv into the instance data"),
        _c("custom_processing", "Custom data processing", PRE, "custom_processing", inputs=(TABLE_IN,),
           outputs=(TABLE_OUT,),
           props={"function": prop("str", "process", "Function name"),
                  "script": prop("code", "def process(df):\n    \"\"\"Take and return a pandas DataFrame.\"\"\"\n"
                                 "    return df\n", "Script")}, required=("function", "script")),
    ]


NUMERIC = "Numeric pre-processing"
# name, title, pandas/sklearn target, properties (key -> prop), args override
_NUMERIC_ROWS: list[tuple[str, str, str, dict, dict]] = [
    ("dropna", "Drop missing values", "pandas.DataFrame.dropna",
     {"subset": prop("list", None, "column index", description="e.g. [0, 1]"),
      "axis": prop("int", 0, "axis", enum=(0, 1), nullable=False),
      "how": prop("str", "any", "how", enum=("any", "all"), nullable=False),
      "thresh": prop("int", None, "thresh", minimum=0)}, {}),
    ("fillna", "Fill missing values", "pandas.DataFrame.fillna",
     {"value": prop("any", None, "value"), "method": prop("str", None, "method", enum=("ffill", "bfill")),
      "axis": prop("int", 0, "axis", enum=(0, 1), nullable=False), "limit": prop("int", None, "limit", minimum=1),
      "downcast": prop("str", None, "downcast", description="not in pandas 3: ignored")},
     {"downcast": None, "method": None}),
    ("drop_duplicates", "Drop duplicates", "pandas.DataFrame.drop_duplicates",
     {"keep": prop("any", "first", "keep", enum=("first", "last", False), nullable=False)}, {}),
    ("standardise", "Standardisation", "sklearn.preprocessing",
     {"method": prop("str", "StandardScaler", "method", nullable=False,
                     enum=("StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler", "Normalizer"))},
     {"method": None}),
    ("drop", "Delete data", "pandas.DataFrame.drop",
     {"labels": prop("any", None, "labels", description="[1, 2] or ['a', 'b']"),
      "axis": prop("int", 0, "axis", enum=(0, 1), nullable=False), "index": prop("any", None, "index"),
      "level": prop("any", None, "level")}, {}),
    ("sort_values", "Sort data", "pandas.DataFrame.sort_values",
     {"by": prop("any", 0, "column index", nullable=False), "axis": prop("int", 0, "axis", enum=(0, 1), nullable=False),
      "ascending": prop("bool", True, "ascending", nullable=False),
      "na_position": prop("str", "last", "na_position", enum=("first", "last"), nullable=False)}, {}),
    ("merge", "Merge data", "pandas.merge",
     {"how": prop("str", "inner", "how", enum=("inner", "left", "right", "outer", "cross"), nullable=False),
      "left_on": prop("any", None, "left_on"), "right_on": prop("any", None, "right_on"),
      "sort": prop("bool", True, "sort", nullable=False),
      "suffixes": prop("list", ["_x", "_y"], "suffixes", nullable=False,
                       description="the manual prints ('x', 'y'); pandas' own default is used"),
      "indicator": prop("bool", False, "indicator", nullable=False)}, {}),
    ("feature_encoding", "Feature encoding", "sklearn.preprocessing",
     {"how": prop("str", "OrdinalEncoder", "how", enum=("OrdinalEncoder", "OneHotEncoder", "LabelEncoder"),
                  nullable=False), "columns": prop("list", None, "columns", description="empty = every text column")},
     {"how": None, "columns": None}),
    ("label_binarize", "Label binarisation", "sklearn.preprocessing",
     {"how": prop("str", "LabelBinarizer", "how", enum=("LabelBinarizer", "MultiLabelBinarizer"), nullable=False)},
     {"how": None}),
    ("gaussian_augment", "Numeric data augmentation", "numpy.random.normal",
     {"alias": alias_prop("数值数据增强"),
      "include_original": prop("bool", True, "Include original data", nullable=False),
      "multiple": prop("int", 1, "Augmentation multiple", minimum=1, nullable=False),
      "std": prop("float", 0.01, "Standard deviation", minimum=0, nullable=False),
      "per_column": prop("bool", False, "Scale per column range", nullable=False)},
     {"alias": None}),
]


def _numeric() -> list[Component]:
    comps = []
    for name, title, target, props, args in _NUMERIC_ROWS:
        inputs = (inp("left", "table"), inp("right", "table")) if name == "merge" else (TABLE_IN,)
        comps.append(_c(name, title, PRE, f"numeric_{name}" if name in ("standardise", "feature_encoding",
                                                                       "label_binarize", "gaussian_augment", "merge")
                        else "numeric_pandas", group=NUMERIC, inputs=inputs, outputs=(TABLE_OUT,), props=props,
                        target=target, args=args))
    return comps


IMAGE = "Image pre-processing"
_BORDER = ("BORDER_DEFAULT", "BORDER_CONSTANT", "BORDER_REPLICATE", "BORDER_REFLECT", "BORDER_REFLECT_101")
_THRESH = ("THRESH_BINARY", "THRESH_BINARY_INV", "THRESH_TRUNC", "THRESH_TOZERO", "THRESH_TOZERO_INV")
_IMAGE_ROWS: list[tuple[str, str, str, dict]] = [
    ("resize", "Resize", "cv2.resize",
     {"dsize": prop("tuple", [32, 32], "dsize"), "fx": prop("float", 0.0, "fx", minimum=0),
      "fy": prop("float", 0.0, "fy", minimum=0),
      "interpolation": prop("str", "INTER_LINEAR", "interpolation", enum=("INTER_NEAREST", "INTER_LINEAR",
                                                                           "INTER_CUBIC", "INTER_AREA"))}),
    ("blur", "Mean filter", "cv2.blur",
     {"ksize": prop("tuple", [3, 3], "ksize"), "anchor": prop("tuple", [-1, -1], "anchor"),
      "borderType": prop("str", "BORDER_DEFAULT", "borderType", enum=_BORDER)}),
    ("box_filter", "Box filter", "cv2.boxFilter",
     {"ddepth": prop("int", -1, "ddepth"), "ksize": prop("tuple", [3, 3], "ksize"),
      "anchor": prop("tuple", [-1, -1], "anchor"), "normalize": prop("bool", True, "normalize"),
      "borderType": prop("str", "BORDER_DEFAULT", "borderType", enum=_BORDER)}),
    ("gaussian_blur", "Gaussian filter", "cv2.GaussianBlur",
     {"ksize": prop("tuple", [3, 3], "ksize"), "sigmaX": prop("float", 0.0, "sigmaX"),
      "sigmaY": prop("float", 0.0, "sigmaY"), "borderType": prop("str", "BORDER_DEFAULT", "borderType", enum=_BORDER)}),
    ("median_blur", "Median filter", "cv2.medianBlur", {"ksize": prop("int", 3, "ksize", minimum=1)}),
    ("bilateral_filter", "Bilateral filter", "cv2.bilateralFilter",
     {"d": prop("int", 5, "d"), "sigmaColor": prop("float", 75.0, "sigmaColor"),
      "sigmaSpace": prop("float", 75.0, "sigmaSpace"),
      "borderType": prop("str", "BORDER_DEFAULT", "borderType", enum=_BORDER)}),
    ("filter2d", "2D convolution", "cv2.filter2D",
     {"ddepth": prop("int", -1, "ddepth"), "kernel": prop("tuple", [3, 3], "kernel",
                                                         description="size of an averaging kernel"),
      "anchor": prop("tuple", [-1, -1], "anchor"), "delta": prop("float", 0.0, "delta"),
      "borderType": prop("str", "BORDER_DEFAULT", "borderType", enum=_BORDER)}),
    ("crop", "Crop", "numpy.ndarray.__getitem__", {"rect": prop("str", "0-32,0-32", "rect", nullable=False,
                                                    pattern=r"^\d+-\d+,\d+-\d+$", x_fix="write y0-y1,x0-x1")}),
    ("threshold", "Global threshold", "cv2.threshold",
     {"thresh": prop("float", 127.0, "thresh"), "maxval": prop("float", 255.0, "maxval",
                                                             description="the manual prints 0 (all black)"),
      "thresholdType": prop("str", "THRESH_BINARY", "thresholdType", enum=_THRESH)}),
    ("adaptive_threshold", "Adaptive threshold", "cv2.adaptiveThreshold",
     {"maxValue": prop("float", 255.0, "maxValue"),
      "adaptiveMethod": prop("str", "ADAPTIVE_THRESH_MEAN_C", "adaptiveMethod",
                             enum=("ADAPTIVE_THRESH_MEAN_C", "ADAPTIVE_THRESH_GAUSSIAN_C")),
      "thresholdType": prop("str", "THRESH_BINARY", "thresholdType", enum=("THRESH_BINARY", "THRESH_BINARY_INV")),
      "blockSize": prop("int", 3, "blockSize", minimum=3), "C": prop("float", 0.0, "C")}),
    ("cvt_color", "Colour-space conversion", "cv2.cvtColor",
     {"code": prop("str", "COLOR_BGR2RGB", "code", enum=("COLOR_BGR2RGB", "COLOR_RGB2BGR", "COLOR_BGR2GRAY",
                                                        "COLOR_RGB2GRAY", "COLOR_BGR2HSV", "COLOR_BGR2LAB"))}),
    ("split_channels", "Colour-channel split", "cv2.split", {}),
]


def _images() -> list[Component]:
    return [_c(name, title, PRE, "image_op", group=IMAGE, inputs=(IMG_IN,), outputs=(IMG_OUT,), props=props,
               target=target) for name, title, target, props in _IMAGE_ROWS]


AUG = "Classification image augmentation"
# Keras 3 keeps ImageDataGenerator as a legacy class, exported only under its TensorFlow-compat
# namespace (which imports TensorFlow): the class itself, from where Keras keeps it.
GENERATOR = "keras.src.legacy.preprocessing.image.ImageDataGenerator"
_GEN_PROPS = {
    "featurewise_center": prop("bool", False), "samplewise_center": prop("bool", False),
    "featurewise_std_normalization": prop("bool", False), "samplewise_std_normalization": prop("bool", False),
    "zca_epsilon": prop("float", 1e-6), "zca_whitening": prop("bool", False), "rotation_range": prop("int", 0),
    "width_shift_range": prop("any", 0.0), "height_shift_range": prop("any", 0.0), "shear_range": prop("float", 0.0),
    "zoom_range": prop("any", 0.0), "channel_shift_range": prop("float", 0.0),
    "fill_mode": prop("str", "nearest", enum=("constant", "nearest", "reflect", "wrap")), "cval": prop("float", 0.0),
    "horizontal_flip": prop("bool", False), "vertical_flip": prop("bool", False), "rescale": prop("float", None),
    "data_format": prop("str", "channels_last", enum=("channels_last", "channels_first")),
    "validation_split": prop("float", 0.0, minimum=0, maximum=0.999), "dtype": prop("str", None),
    "batch_size": prop("int", 32, minimum=1), "shuffle": prop("bool", True), "seed": prop("int", None),
    "save_to_dir": prop("dir", None), "save_prefix": prop("str", ""),
}
_FLOW_ARGS = ("batch_size", "shuffle", "seed", "save_to_dir", "save_prefix", "save_format", "target_size",
              "color_mode", "classes", "class_mode", "subset", "interpolation")


def _augmentation() -> list[Component]:
    folder = {**_GEN_PROPS, "save_format": prop("str", "png", enum=("png", "jpeg")),
              "target_size": prop("tuple", [256, 256]), "color_mode": prop("str", "rgb", enum=("grayscale", "rgb")),
              "classes": prop("list", None), "subset": prop("str", None, enum=("training", "validation")),
              "class_mode": prop("str", "categorical", enum=("categorical", "binary", "sparse", "input")),
              "interpolation": prop("str", "nearest", enum=("nearest", "bilinear", "bicubic"))}
    named = {**_GEN_PROPS, "save_format": prop("str", "jpeg", enum=("png", "jpeg"))}
    comps = [
        _c("filename_labelled", "Filename-labelled dataset", PRE, "image_generator", group=AUG, inputs=(IMG_IN,),
           outputs=(out("data", "generator"),), props=named, target=GENERATOR,
           args={k: None for k in _FLOW_ARGS}, note="the label is the file name up to its first '_' or '.'",
           env={"KERAS_BACKEND": "torch"}),
        _c("folder_labelled", "Folder-labelled dataset", PRE, "image_generator", group=AUG, inputs=(IMG_IN,),
           outputs=(out("data", "generator"),), props=folder, target=GENERATOR,
           args={k: None for k in _FLOW_ARGS}, env={"KERAS_BACKEND": "torch"}),
    ]
    det = "Object-detection augmentation"
    box_in, box_out = inp("images", "images"), out("images", "images")
    for name, title, props in (
            ("random_flip", "Random flip", {"p": prop("float", 0.5, minimum=0, maximum=1)}),
            ("random_scale", "Random scale", {"scale": prop("float", 0.2, minimum=0, maximum=1)}),
            ("random_translate", "Random translate", {"translate": prop("float", 0.2, minimum=0, maximum=1)}),
            ("random_rotate", "Random rotate", {"angle": prop("int", 10, minimum=0)}),
            ("random_shear", "Random shear", {"shear_factor": prop("float", 0.2, minimum=0, maximum=1)})):
        comps.append(_c(name, title, PRE, "detection_augment", group=det, inputs=(box_in,), outputs=(box_out,),
                        props=props, note="boxes come from <image>.txt files (x0 y0 x1 y1 per line) next to "
                                          "each image; boxes with < 25 % of their area left are dropped"))
    return comps


@hookimpl
def hpcai_pipeline_components() -> list[Component]:
    return [*_extraction(), *_loading(), *_preprocessing(), *_numeric(), *_images(), *_augmentation()]
