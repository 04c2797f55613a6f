"""TorchServe handler of the tests: JSON {"x": [4 floats]} in, the model's 2 outputs back."""

import json

import torch
from ts.torch_handler.base_handler import BaseHandler


class Handler(BaseHandler):
    def preprocess(self, data):  # type: ignore[no-untyped-def]
        rows = []
        for req in data:
            body = req.get("body") if req.get("body") is not None else req.get("data")
            if isinstance(body, (bytes, bytearray)):
                body = json.loads(body)
            rows.append(body["x"])
        return torch.tensor(rows, dtype=torch.float32)

    def postprocess(self, data):  # type: ignore[no-untyped-def]
        return data.tolist()
