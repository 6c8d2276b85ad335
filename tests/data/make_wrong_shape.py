#!/usr/bin/env python3
"""Writes the tiny ONNX fixtures that tests/it/emotion.rs loads to check that moodbox refuses
models with the wrong interface. Needs only the `onnx` package; rerun from this folder:

    python make_wrong_shape.py

wrong-input.onnx   face f32 [1,3,64,64] -> logits [1,7]   (a colour 64x64 model)
wrong-output.onnx  face f32 [n,1,48,48] -> logits [n,5]   (five classes, not seven)
"""
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent


def model(name: str, in_shape: list, channels: int, classes: int) -> None:
    w = numpy_helper.from_array(np.full((channels, classes), 0.1, dtype=np.float32), "w")
    nodes = [
        helper.make_node("GlobalAveragePool", ["face"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "w"], ["logits"]),
    ]
    batch = in_shape[0]
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("face", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, classes])],
        initializer=[w],
    )
    m = helper.make_model(graph, producer_name="moodbox tests", opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, str(HERE / f"{name}.onnx"))


model("wrong-input", [1, 3, 64, 64], channels=3, classes=7)
model("wrong-output", ["n", 1, 48, 48], channels=1, classes=5)
