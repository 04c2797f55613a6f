"""An MLServer runtime for ONNX models on onnxruntime (MLServer 1.7 ships none).

This file runs inside MLServer's environment, not hpcai's: the mlserver service type writes it
next to the model's model-settings.json, and MLServer puts that folder on sys.path when it
loads the `implementation` "onnx_runtime.OnnxModel".

V2 inputs are matched to the graph's inputs by name, or by position when the names differ
(a client that names its one input "x" still reaches a graph whose input is "float_input").
The response holds every graph output, or those the request asked for.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.errors import MLServerError
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver.utils import get_model_uri

# ONNX tensor element types -> numpy (the ones V2 datatypes can carry)
DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
          "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int16)": np.int16,
          "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_}


class OnnxModel(MLModel):
    async def load(self) -> bool:
        uri = await get_model_uri(self._settings, wellknown_filenames=["model.onnx"])
        self._session = ort.InferenceSession(uri, providers=["CPUExecutionProvider"])
        self._inputs = self._session.get_inputs()
        self._outputs = [o.name for o in self._session.get_outputs()]
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        if len(payload.inputs) != len(self._inputs):
            raise MLServerError(f"the model takes {len(self._inputs)} input(s) "
                                f"({', '.join(i.name for i in self._inputs)}), got {len(payload.inputs)}",
                                status_code=400)
        by_name = {i.name: i for i in self._inputs}
        feeds = {}
        for pos, given in enumerate(payload.inputs):
            graph_input = by_name.get(given.name, self._inputs[pos])
            array = NumpyCodec.decode_input(given)
            feeds[graph_input.name] = array.astype(DTYPES.get(graph_input.type, array.dtype), copy=False)
        wanted = [o.name for o in payload.outputs] if payload.outputs else self._outputs
        unknown = sorted(set(wanted) - set(self._outputs))
        if unknown:
            raise MLServerError(f"unknown output(s) {unknown}; the model has {self._outputs}", status_code=400)
        results = self._session.run(wanted, feeds)
        return InferenceResponse(model_name=self.name, model_version=self.version,
                                 outputs=[NumpyCodec.encode_output(name, np.asarray(value))
                                          for name, value in zip(wanted, results)])
