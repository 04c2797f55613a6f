"""Job-side code of the data components (called by core.pipelines.runner with one Step)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.pipelines.runner import Step, StepError, target
from core.pipelines.values import Table

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff")


def unavailable(step: Step) -> dict[str, Any]:
    raise StepError(f"{step.title} cannot run on this site")


cfd_extract = unavailable


# --- loading ----------------------------------------------------------------------------------

def read_csv(step: Step) -> dict[str, Any]:
    path = Path(step.props.get("file") or step.props.get("dataset") or "")
    if not path.is_file():
        raise StepError(f"data file {path} does not exist")
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    frame = pd.read_csv(path, sep=sep, header=0 if step.props.get("header", True) else None)
    frame.columns = [str(c) for c in frame.columns]
    print(f"[pipeline] {step.id}: {len(frame)} rows x {len(frame.columns)} columns from {path}", flush=True)
    return {"data": Table(frame)}


def read_images(step: Step) -> dict[str, Any]:
    import cv2

    root = Path(step.props.get("directory") or step.props.get("dataset") or "")
    if not root.is_dir():
        raise StepError(f"image folder {root} does not exist")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise StepError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root}")
    images = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in files]
    labels = [p.parent.name if p.parent != root else re.split(r"[_.]", p.name)[0] for p in files]
    return {"images": {"images": images, "names": [str(p.relative_to(root)) for p in files], "labels": labels,
                       "root": str(root)}}


def _user_function(step: Step, script: str, name: str) -> Any:
    namespace: dict[str, Any] = {"__name__": f"pipeline_{step.id}"}
    exec(compile(script, f"<{step.title} {step.id}>", "exec"), namespace)  # the user's own code, run as the user
    fn = namespace.get(name)
    if not callable(fn):
        raise StepError(f"the script defines no function {name!r} (Function name must match it)")
    return fn


def custom_reader(step: Step) -> dict[str, Any]:
    frame = _user_function(step, step.props["script"], step.props["function"])(step.props.get("file"))
    if not isinstance(frame, pd.DataFrame):
        raise StepError(f"{step.props['function']} returned {type(frame).__name__}, not a pandas DataFrame")
    return {"data": Table(frame)}


def custom_processing(step: Step) -> dict[str, Any]:
    table: Table = step.input("data")
    frame = _user_function(step, step.props["script"], step.props["function"])(table.frame.copy())
    if not isinstance(frame, pd.DataFrame):
        raise StepError(f"{step.props['function']} returned {type(frame).__name__}, not a pandas DataFrame")
    return {"data": table.with_frame(frame)}


def save_csv(step: Step) -> dict[str, Any]:
    table = step.input("data")
    if not isinstance(table, Table):
        raise StepError("Import to CSV dataset needs tabular data here")
    name = re.sub(r"[^\w.-]", "_", step.props["dataset_name"])
    path = step.dir / f"{name}.csv"
    table.frame.to_csv(path, index=False)
    print(f"[pipeline] {step.id}: saved {len(table.frame)} rows to {path}", flush=True)
    return {"data": table}


# --- pre-processing ---------------------------------------------------------------------------

def _columns(table: Table, names: list[Any] | None, what: str) -> list[str]:
    cols = [str(c) for c in table.frame.columns]
    out = []
    for n in names or []:
        key = cols[n] if isinstance(n, int) and 0 <= n < len(cols) else str(n)
        if key not in cols:
            raise StepError(f"{what}: no column {n!r}; the data has {', '.join(cols)}")
        out.append(key)
    return out


def select_features(step: Step) -> dict[str, Any]:
    table: Table = step.input("data")
    labels = _columns(table, step.props.get("labels"), "Sample labels")
    features = _columns(table, step.props.get("features"), "Sample features") or None
    return {"data": Table(table.frame, features=features, labels=labels, split=table.split)}


def parse_column_spec(text: str | None, n: int) -> list[int] | None:
    """The product's column syntax, 0-based: "[1, 2, 3]", "[1-4]" (2nd to 4th), "all", "None"."""
    text = (text or "None").strip()
    if text.lower() == "none":
        return []
    if text.lower() == "all":
        return None
    m = re.fullmatch(r"\[\s*(\d+)\s*-\s*(\d+)\s*\]", text)
    if m:
        return list(range(int(m.group(1)), int(m.group(2)) + 1))
    m = re.fullmatch(r"\[([\d\s,]*)\]", text)
    if m:
        return [int(x) for x in m.group(1).split(",") if x.strip()]
    raise StepError(f"column list {text!r}: write [1, 2, 3], [1-4], all or None")


def input_features(step: Step) -> dict[str, Any]:
    table: Table = step.input("data")
    n = len(table.frame.columns)
    labels = _columns(table, parse_column_spec(step.props.get("labels"), n), "Label features")
    feats = parse_column_spec(step.props.get("features"), n)
    features = None if feats is None else _columns(table, feats, "Sample features")
    return {"data": Table(table.frame, features=features, labels=labels, split=table.split)}


def split_ratio(text: str) -> tuple[float, float, float]:
    parts = [float(x) for x in text.split(":")]
    total = sum(parts)
    if total <= 0 or parts[0] <= 0:
        raise StepError(f"ratio {text!r}: the train part must be greater than 0")
    return parts[0] / total, parts[1] / total, parts[2] / total


def data_split(step: Step) -> dict[str, Any]:
    """Rows get a part with scikit-learn's train_test_split (test first, then val from the rest),
    so a hand-written script with the same seed gets the same rows."""
    from sklearn.model_selection import train_test_split

    table: Table = step.input("data")
    train, val, test = split_ratio(step.props["ratio"])
    idx = np.arange(len(table.frame))
    seed = step.props.get("seed")
    strat = table.y() if step.props.get("stratify") else None
    parts = np.array(["train"] * len(idx), dtype=object)
    rest = idx
    if test > 0:
        rest, test_idx = train_test_split(idx, test_size=test, random_state=seed, stratify=strat)
        parts[test_idx] = "test"
    if val > 0:
        strat_rest = None if strat is None else strat.iloc[rest]
        _, val_idx = train_test_split(rest, test_size=val / (train + val), random_state=seed, stratify=strat_rest)
        parts[val_idx] = "val"
    counts = {p: int((parts == p).sum()) for p in ("train", "val", "test")}
    print(f"[pipeline] {step.id}: split {counts}", flush=True)
    return {"data": Table(table.frame, table.features, table.labels, parts)}


def numeric_pandas(step: Step) -> dict[str, Any]:
    """dropna, fillna, drop_duplicates, drop, sort_values: the pandas method the row names."""
    table: Table = step.input("data")
    method = step.target.rsplit(".", 1)[1]
    kwargs = dict(step.kwargs)
    frame = table.frame
    if method in ("dropna", "sort_values") and kwargs.get("subset" if method == "dropna" else "by") is not None:
        key = "subset" if method == "dropna" else "by"
        val = kwargs[key]
        names = _columns(table, val if isinstance(val, list) else [val], key)
        kwargs[key] = names if isinstance(val, list) or method == "dropna" else names[0]
    if method == "drop" and kwargs.get("axis") == 1 and kwargs.get("labels") is not None:
        val = kwargs["labels"]
        kwargs["labels"] = _columns(table, val if isinstance(val, list) else [val], "labels")
    if method == "fillna" and step.props.get("method"):
        result = frame.ffill(axis=kwargs.get("axis", 0), limit=kwargs.get("limit")) if step.props["method"] == "ffill" \
            else frame.bfill(axis=kwargs.get("axis", 0), limit=kwargs.get("limit"))
    else:
        try:
            result = getattr(frame, method)(**kwargs)
        except (KeyError, ValueError, TypeError) as exc:
            raise StepError(f"{method}: {exc}") from exc
    keep = len(result) == len(frame) and method in ("fillna",)
    out = table.with_frame(result.reset_index(drop=True) if not keep else result, keep_split=keep)
    if not keep and table.split is not None and method != "sort_values":
        out.split = table.split[frame.index.get_indexer(result.index)] if len(result) else None
    return {"data": out}


def numeric_standardise(step: Step) -> dict[str, Any]:
    """Fit the scaler on the training rows (all rows before a split), transform every row."""
    from sklearn import preprocessing

    table: Table = step.input("data")
    cols = [c for c in table.feature_columns() if pd.api.types.is_numeric_dtype(table.frame[c])]
    scaler = getattr(preprocessing, step.props["method"])()
    fit_rows = table.rows("train") if table.has("train") else table.rows(None)
    scaler.fit(table.frame.loc[fit_rows, cols])
    frame = table.frame.copy()
    frame[cols] = scaler.transform(table.frame[cols])
    return {"data": table.with_frame(frame)}


def numeric_feature_encoding(step: Step) -> dict[str, Any]:
    from sklearn import preprocessing

    table: Table = step.input("data")
    frame = table.frame.copy()
    cols = _columns(table, step.props.get("columns"), "columns") or \
        [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    how = step.props["how"]
    features = table.features
    if how == "OneHotEncoder":
        enc = preprocessing.OneHotEncoder(sparse_output=False)
        data = enc.fit_transform(frame[cols].astype(str))
        names = [str(n) for n in enc.get_feature_names_out(cols)]
        frame = pd.concat([frame.drop(columns=cols), pd.DataFrame(data, columns=names, index=frame.index)], axis=1)
        if features is not None:
            features = [f for f in features if f not in cols] + [n for n in names if n.rsplit("_", 1)[0] in features]
    elif how == "OrdinalEncoder":
        frame[cols] = preprocessing.OrdinalEncoder().fit_transform(frame[cols].astype(str))
    else:
        for c in cols:
            frame[c] = preprocessing.LabelEncoder().fit_transform(frame[c].astype(str))
    out = table.with_frame(frame)
    out.features = features
    return {"data": out}


def numeric_label_binarize(step: Step) -> dict[str, Any]:
    from sklearn import preprocessing

    table: Table = step.input("data")
    if not table.labels:
        raise StepError("Label binarisation needs label columns (Select features before it)")
    frame = table.frame.copy()
    label = table.labels[0]
    values = frame[label].astype(str)
    enc = getattr(preprocessing, step.props["how"])()
    data = enc.fit_transform(values if step.props["how"] == "LabelBinarizer" else values.str.split(","))
    classes = [f"{label}_{c}" for c in enc.classes_]
    if data.shape[1] == 1:
        classes = [label]
    frame = pd.concat([frame.drop(columns=[label]), pd.DataFrame(data, columns=classes, index=frame.index)], axis=1)
    out = table.with_frame(frame)
    out.labels = classes
    return {"data": out}


def numeric_gaussian_augment(step: Step) -> dict[str, Any]:
    table: Table = step.input("data")
    rng = np.random.default_rng(0)
    cols = [c for c in table.feature_columns() if pd.api.types.is_numeric_dtype(table.frame[c])]
    base = table.frame
    scale = step.props["std"] * ((base[cols].max() - base[cols].min()).to_numpy() if step.props["per_column"] else 1.0)
    copies = [base] if step.props["include_original"] else []
    for _ in range(step.props["multiple"]):
        noisy = base.copy()
        noisy[cols] = base[cols].to_numpy(dtype=float) + rng.normal(0.0, 1.0, (len(base), len(cols))) * scale
        copies.append(noisy)
    frame = pd.concat(copies, ignore_index=True)
    split = None if table.split is None else np.concatenate([table.split] * len(copies))
    return {"data": Table(frame, table.features, table.labels, split)}


def numeric_merge(step: Step) -> dict[str, Any]:
    left: Table = step.input("left")
    right: Table = step.input("right")
    kwargs = dict(step.kwargs)
    kwargs["suffixes"] = tuple(kwargs.get("suffixes") or ("_x", "_y"))
    if kwargs.get("left_on") is None and kwargs.get("right_on") is None and kwargs["how"] != "cross":
        common = [c for c in left.frame.columns if c in right.frame.columns]
        if not common:
            raise StepError("the two tables share no column: set left_on and right_on")
    try:
        frame = pd.merge(left.frame, right.frame, **kwargs)
    except (KeyError, ValueError) as exc:
        raise StepError(f"merge: {exc}") from exc
    return {"data": Table(frame, None, [lab for lab in left.labels if lab in frame.columns])}


# --- images -----------------------------------------------------------------------------------

def _cv(name: str) -> int:
    import cv2

    return int(getattr(cv2, name))


def image_op(step: Step) -> dict[str, Any]:
    """One OpenCV call per image, the row's target with the properties as its arguments."""
    data = step.input("images")
    op = step.target.split(".")[-1]
    kw = dict(step.kwargs)
    for key in ("borderType", "interpolation", "thresholdType", "adaptiveMethod", "code"):
        if isinstance(kw.get(key), str):
            kw[key] = _cv(kw[key])
    for key in ("ksize", "dsize", "anchor"):
        if isinstance(kw.get(key), list):
            kw[key] = tuple(kw[key])
    out = []
    for img in data["images"]:
        if step.component == "crop":  # rows first, then columns: plain array slicing
            (y0, y1), (x0, x1) = [tuple(int(v) for v in r.split("-")) for r in step.props["rect"].split(",")]
            out.append(img[y0:y1, x0:x1])
        elif op == "filter2D":
            k = tuple(kw.pop("kernel", (3, 3))) if "kernel" in kw else (3, 3)
            kernel = np.ones(k, np.float32) / float(np.prod(k))
            out.append(target(step.target)(img, kw.pop("ddepth", -1), kernel, **kw))
        elif op == "threshold":
            out.append(target(step.target)(img, kw["thresh"], kw["maxval"], kw["thresholdType"])[1])
        elif op == "adaptiveThreshold":
            gray = img if img.ndim == 2 else target("cv2.cvtColor")(img, _cv("COLOR_BGR2GRAY"))
            out.append(target(step.target)(gray, kw["maxValue"], kw["adaptiveMethod"], kw["thresholdType"],
                                           kw["blockSize"], kw["C"]))
        elif op == "split":
            out.extend(target(step.target)(img))
        elif op == "resize":
            size = kw.pop("dsize")
            out.append(target(step.target)(img, tuple(size), **kw))
        else:
            out.append(target(step.target)(img, **kw))
    labels = data["labels"] if op != "split" else [lab for lab in data["labels"] for _ in range(3)]
    names = data["names"] if op != "split" else [f"{n}#{c}" for n in data["names"] for c in range(3)]
    return {"images": {**data, "images": out, "labels": labels, "names": names}}


def image_generator(step: Step) -> dict[str, Any]:
    """Keras's ImageDataGenerator over the images (labels from folder or file names)."""
    data = step.input("images")
    gen = target(step.target)(**step.kwargs)
    size = tuple(step.props.get("target_size") or (data["images"][0].shape[:2]))
    import cv2

    x = np.stack([cv2.resize(img, (size[1], size[0])) for img in data["images"]]).astype("float32")
    classes = sorted(set(data["labels"]))
    y = np.array([classes.index(lab) for lab in data["labels"]])
    flow = gen.flow(x, y, batch_size=step.props.get("batch_size") or 32, shuffle=bool(step.props.get("shuffle")),
                    seed=step.props.get("seed"))
    # the size and rescale travel with the data, so prediction prepares images the same way
    return {"data": {"generator": flow, "x": x, "y": y, "classes": classes, "rescale": step.props.get("rescale")}}


def detection_augment(step: Step) -> dict[str, Any]:
    """Flip / scale / translate / rotate / shear each image and its boxes (x0 y0 x1 y1)."""
    import cv2

    data = step.input("images")
    rng = np.random.default_rng(0)
    op = step.component
    out_images, out_boxes = [], []
    root = Path(data.get("root", "."))
    for img, name in zip(data["images"], data["names"]):
        h, w = img.shape[:2]
        boxes = data.get("boxes", {}).get(name)
        if boxes is None:
            txt = (root / name).with_suffix(".txt")
            boxes = np.loadtxt(txt, ndmin=2) if txt.exists() else np.zeros((0, 4))
        m = np.eye(3)
        if op == "random_flip" and rng.random() < step.props["p"]:
            m = np.array([[-1, 0, w], [0, 1, 0], [0, 0, 1]], float)
        elif op == "random_scale":
            s = rng.uniform(1 - step.props["scale"], 1 + step.props["scale"])
            m = np.diag([s, s, 1.0])
        elif op == "random_translate":
            t = step.props["translate"]
            m = np.array([[1, 0, rng.uniform(-t, t) * w], [0, 1, rng.uniform(-t, t) * h], [0, 0, 1]])
        elif op == "random_rotate":
            a = rng.uniform(-step.props["angle"], step.props["angle"])
            m = np.vstack([cv2.getRotationMatrix2D((w / 2, h / 2), a, 1.0), [0, 0, 1]])
        elif op == "random_shear":
            m = np.array([[1, rng.uniform(0, step.props["shear_factor"]), 0], [0, 1, 0], [0, 0, 1]])
        out_images.append(cv2.warpAffine(img, m[:2], (w, h), borderValue=0))
        out_boxes.append(_move_boxes(boxes, m, w, h))
    return {"images": {**data, "images": out_images, "boxes": dict(zip(data["names"], out_boxes))}}


def _move_boxes(boxes: np.ndarray, m: np.ndarray, w: int, h: int) -> np.ndarray:
    kept = []
    for x0, y0, x1, y1 in boxes[:, :4]:
        corners = np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]]) @ m.T
        nx0, ny0 = corners[:, 0].min(), corners[:, 1].min()
        nx1, ny1 = corners[:, 0].max(), corners[:, 1].max()
        cx0, cy0, cx1, cy1 = max(nx0, 0), max(ny0, 0), min(nx1, w), min(ny1, h)
        area = max(nx1 - nx0, 0) * max(ny1 - ny0, 0)
        if area and max(cx1 - cx0, 0) * max(cy1 - cy0, 0) >= 0.25 * area:
            kept.append([cx0, cy0, cx1, cy1])
    return np.array(kept).reshape(-1, 4)
