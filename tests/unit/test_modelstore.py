"""Mapping an ONNX export's anonymous MatMul weights back to their BERT names (pure, on a toy graph)."""

from __future__ import annotations

from dataclasses import dataclass

from newsindex.modelstore import linear_weight_names


@dataclass
class Node:
    op_type: str
    input: list[str]
    output: list[str]


def test_each_matmul_weight_takes_the_name_of_the_bias_its_add_adds() -> None:
    nodes = [
        Node("MatMul", ["hidden", "onnx::MatMul_1659"], ["q_mm"]),
        Node("Add", ["encoder.layer.0.attention.self.query.bias", "q_mm"], ["q"]),
        Node("MatMul", ["hidden", "onnx::MatMul_1660"], ["k_mm"]),
        Node("Add", ["k_mm", "encoder.layer.0.attention.self.key.bias"], ["k"]),
        Node("MatMul", ["q", "k"], ["scores"]),  # activations only: no weight
        Node("Add", ["scores", "mask"], ["masked"]),
    ]
    names = {
        "onnx::MatMul_1659",
        "onnx::MatMul_1660",
        "encoder.layer.0.attention.self.query.bias",
        "encoder.layer.0.attention.self.key.bias",
    }
    assert linear_weight_names(nodes, names) == {
        "onnx::MatMul_1659": "encoder.layer.0.attention.self.query.weight",
        "onnx::MatMul_1660": "encoder.layer.0.attention.self.key.weight",
    }


def test_a_matmul_without_a_following_bias_add_is_left_alone() -> None:
    nodes = [Node("MatMul", ["x", "onnx::MatMul_1"], ["y"]), Node("Relu", ["y"], ["z"])]
    assert linear_weight_names(nodes, {"onnx::MatMul_1"}) == {}
