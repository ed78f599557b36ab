"""The `vit` space: repairs, errors, canonical form, operators, encoding, cost, graph, forward, training."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest
import torch
from pydantic import ValidationError

from worker.nas.flops import count_flops, count_params
from worker.nas.spaces import make_space
from worker.nas.spaces.vit import ViTSpace
from worker.nas.types import TaskShape

torch.set_num_threads(1)
TINY = TaskShape((1, 8, 8), 10)
MNIST = TaskShape((1, 28, 28), 10)
CIFAR = TaskShape((3, 32, 32), 10)
TASKS = [TINY, MNIST, CIFAR]


def attn(heads: int = 2, ratio: int = 2) -> dict:
    return {"mixer": "attention", "heads": heads, "mlp_ratio": ratio}


def mix(ratio: int = 2) -> dict:
    return {"mixer": "token_mlp", "mlp_ratio": ratio}


def genome(blocks: list[dict] | None = None, patch: int = 4, dim: int = 16, **kw) -> dict:
    stem = kw.pop("stem", {"type": "patch", "patch": patch})
    return {"stem": stem, "dim": dim, "blocks": blocks if blocks is not None else [attn()], **kw}


def space(task: TaskShape = MNIST, **options) -> ViTSpace:
    return make_space("vit", options, task)


def forward(s: ViTSpace, g: dict, batch: int = 2) -> torch.Tensor:
    with torch.no_grad():
        return s.build(g).eval()(torch.randn(batch, *s.task.input_shape))


# --- forward shapes --------------------------------------------------------------------------------------
@pytest.mark.parametrize("task", TASKS, ids=lambda t: "x".join(map(str, t.input_shape)))
@pytest.mark.parametrize(
    "g",
    [
        genome([attn(2), mix(1)], patch=4, pool="cls"),
        genome([mix(4), attn(4)], patch=7, pool="mean", dropout=0.1),
        genome([attn(1)], stem={"type": "conv", "patch": 8, "channels": 8}, pool="cls"),
        genome([attn(2, 1), attn(4, 1)], stem={"type": "conv", "patch": 3, "channels": 4}),
    ],
    ids=["patch4-cls", "patch7-mean", "conv8-cls", "conv3-mean"],
)
def test_forward_gives_batch_by_classes_on_every_input_size(task: TaskShape, g: dict) -> None:
    out = forward(space(task, patches=[3, 4, 7, 8]), g)
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_padding_lets_the_last_partial_patch_reach_the_output() -> None:
    s = space(MNIST)
    model = s.build(genome([attn()], patch=8)).eval()  # 28 = 3 * 8 + 4: the last patch is half padding
    x = torch.zeros(1, 1, 28, 28)
    y = x.clone()
    y[0, 0, 27, 27] = 5.0
    with torch.no_grad():
        assert not torch.allclose(model(x), model(y))


def test_importing_the_space_does_not_import_torch() -> None:
    code = "import sys, worker.nas.spaces.vit; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- repairs ---------------------------------------------------------------------------------------------
def test_validate_fills_defaults_and_is_idempotent() -> None:
    s = space(MNIST)
    g = s.validate({"dim": 32, "blocks": [{}, {"mixer": "token_mlp"}]})
    assert g == {
        "stem": {"type": "patch", "patch": 4},
        "dim": 32,
        "blocks": [attn(1, 2), mix(2)],
        "pool": "mean",
        "dropout": 0.0,
    }
    assert s.validate(g) == g


def test_validate_shrinks_a_patch_larger_than_the_image_to_the_largest_fitting_grid_patch() -> None:
    s = space(TINY, patches=[4, 7, 16])
    assert s.validate(genome(patch=16))["stem"]["patch"] == 7
    assert s.validate(genome(patch=9))["stem"]["patch"] == 7
    assert s.validate(genome(patch=8))["stem"]["patch"] == 8  # fits: kept, even off the grid
    assert space(TINY, patches=[16]).validate(genome(patch=32))["stem"]["patch"] == 8  # none fits: image


def test_validate_repairs_heads_to_a_divisor_of_dim() -> None:
    s = space(MNIST, dims=[20, 40], heads=[1, 3, 4, 8])
    assert s.validate(genome([attn(8)], dim=20))["blocks"][0]["heads"] == 4  # largest grid divisor <= 8
    assert s.validate(genome([attn(3)], dim=40))["blocks"][0]["heads"] == 1
    assert s.validate(genome([attn(6)], dim=40))["blocks"][0]["heads"] == 4
    assert space(MNIST, heads=[4]).validate(genome([attn(3)], dim=20))["blocks"][0]["heads"] == 2


def test_validate_drops_the_head_count_when_there_is_a_single_token() -> None:
    s = space(TINY, heads=[2, 4])
    one = s.validate(genome([attn(4)], patch=8, dim=32, pool="mean"))  # 8x8 image, patch 8: one token
    assert one["blocks"][0]["heads"] == 2
    two = s.validate(genome([attn(4)], patch=8, dim=32, pool="cls"))  # plus the class token: two
    assert two["blocks"][0]["heads"] == 4


def test_validate_pads_blocks_up_to_min_blocks_with_first_grid_values() -> None:
    s = space(MNIST, min_blocks=2, mixers=["token_mlp", "attention"], mlp_ratios=[4, 2])
    assert s.validate(genome([attn()]))["blocks"] == [attn(), mix(4)]
    s = space(MNIST, min_blocks=1, heads=[4, 2], dims=[24])
    assert s.validate(genome([], dim=24))["blocks"] == [attn(4, 1)]


def test_built_net_of_a_repaired_genome_runs() -> None:
    s = space(TINY, dims=[30], heads=[1, 2, 4], patches=[4, 16])
    g = s.validate(genome([attn(4)], patch=16, dim=30, pool="cls"))
    assert g["stem"]["patch"] == 4 and g["blocks"][0]["heads"] == 2
    assert forward(s, g).shape == (2, 10)


# --- errors ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ("not a genome", ["genome", "object"]),
        ({"blocks": []}, ["dim", "required"]),
        (genome(dim="64"), ["dim", "[1, 4096]"]),
        (genome(dim=0), ["dim", "[1, 4096]"]),
        (genome(stem="patch4"), ["stem", "object"]),
        (genome(stem={"type": "vgg", "patch": 4}), ["stem.type", "'patch'", "'conv'"]),
        (genome(stem={"type": "patch", "patch": 4, "channels": 8}), ["stem", "channels", "allowed"]),
        (genome(stem={"type": "conv", "patch": 0}), ["stem.patch", "[1, 64]"]),
        (genome(stem={"type": "conv", "patch": 4, "channels": True}), ["stem.channels", "[1, 1024]"]),
        (genome(blocks="attention"), ["blocks", "list"]),
        (genome([attn(), 4]), ["blocks[1]", "object"]),
        (genome([attn(), {"mixer": "conv"}]), ["blocks[1].mixer", "'attention'", "'token_mlp'"]),
        (genome([attn(heads=0)]), ["blocks[0].heads", "[1, 64]"]),
        (genome([{"mixer": "token_mlp", "heads": 2}]), ["blocks[0]", "heads", "allowed"]),
        (genome([attn(ratio=1.5)]), ["blocks[0].mlp_ratio", "[1, 16]"]),
        (genome(pool="max"), ["pool", "'cls'", "'mean'"]),
        (genome(dropout=1.0), ["dropout", "[0, 1)"]),
        (genome(width=3), ["width", "allowed"]),
        (genome([attn()] * 7), ["blocks", "max_blocks=6"]),
    ],
)
def test_validate_rejects_garbage_naming_the_field_and_allowed_values(bad, words: list[str]) -> None:
    with pytest.raises(ValueError) as exc:
        space(MNIST).validate(bad)
    for word in words:
        assert word in str(exc.value)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"min_blocks": 4, "max_blocks": 2}, "min_blocks"),
        ({"dims": [30], "heads": [4, 8]}, "dims"),
        ({"patches": [0, 4]}, "patches"),
        ({"mixers": ["attention", "conv"]}, "mixers"),
        ({"dropout_rates": [0.1, 1.0]}, "dropout_rates"),
        ({"heads": []}, "heads"),
        ({"depth": 3}, "depth"),
    ],
)
def test_options_reject_bad_grids_naming_the_field(options: dict, field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        space(MNIST, **options)
    assert field in str(exc.value)


# --- canonical form --------------------------------------------------------------------------------------
def test_canonical_is_sorted_json_of_the_normal_form() -> None:
    s = space(MNIST)
    key = s.canonical({"blocks": [{"heads": 2}], "dim": 32})
    assert json.loads(key) == s.validate({"blocks": [{"heads": 2}], "dim": 32})
    assert key == json.dumps(json.loads(key), sort_keys=True, separators=(",", ":"))
    assert key == s.canonical(genome([attn(2, 2)], dim=32, pool="mean", dropout=0))
    assert key != s.canonical(genome([attn(2, 2)], dim=32, pool="cls"))
    assert key != s.canonical(genome([attn(2, 2)], dim=32, dropout=0.1))


# --- operators -------------------------------------------------------------------------------------------
def test_mutate_always_changes_the_network_and_reaches_every_kind_of_change() -> None:
    s = space(MNIST)
    rng = random.Random(1)
    seen: set[str] = set()
    for _ in range(300):
        parent = s.sample(rng)
        child = s.mutate(parent, rng)
        assert s.canonical(child) != s.canonical(parent)
        assert s.validate(child) == child
        seen |= {k for k in ("stem", "dim", "pool", "dropout") if child[k] != parent[k]}
        n, m = len(parent["blocks"]), len(child["blocks"])
        seen |= {"add"} if m > n else {"remove"} if m < n else set()
        if m == n and child["blocks"] != parent["blocks"]:
            seen.add("block")
    assert seen == {"stem", "dim", "pool", "dropout", "add", "remove", "block"}


def test_crossover_swaps_block_tails_keeps_each_parents_globals_and_respects_bounds() -> None:
    s = space(MNIST, max_blocks=4, min_blocks=2)
    a = s.validate(genome([attn(1, 1), attn(1, 2), attn(1, 4)], dim=32, pool="cls"))
    b = s.validate(genome([mix(1), mix(2), mix(4), mix(1)], dim=64, patch=7))
    for seed in range(30):
        c1, c2 = s.crossover(a, b, random.Random(seed))
        for child, first, second in ((c1, a, b), (c2, b, a)):
            assert {k: child[k] for k in ("stem", "dim", "pool")} == {
                k: first[k] for k in ("stem", "dim", "pool")
            }
            assert 2 <= len(child["blocks"]) <= 4
            n_first = sum(blk in first["blocks"] for blk in child["blocks"])
            assert child["blocks"][:n_first] == first["blocks"][:n_first]
            assert all(blk in second["blocks"] for blk in child["blocks"][n_first:])
        assert len(c1["blocks"]) + len(c2["blocks"]) == 7
        assert (c1["blocks"], c2["blocks"]) != (b["blocks"], a["blocks"])  # never a bare swap


def test_crossover_repairs_heads_for_the_childs_dim() -> None:
    s = space(MNIST, dims=[20, 32], heads=[1, 2, 8])
    a = s.validate(genome([mix(), mix()], dim=20))
    b = s.validate(genome([attn(8), attn(8)], dim=32))
    for seed in range(10):
        c1, _ = s.crossover(a, b, random.Random(seed))
        assert all(blk.get("heads", 1) in (1, 2) for blk in c1["blocks"])  # 8 does not divide 20


# --- encoding --------------------------------------------------------------------------------------------
def test_decisions_are_six_globals_and_three_per_block_slot() -> None:
    s = space(MNIST, max_blocks=3)
    assert s.decisions() == [2, 3, 2, 5, 2, 2] + [3, 3, 3] * 3


def test_encode_decode_round_trips_a_genome_on_the_grid() -> None:
    s = space(MNIST)
    g = s.validate(
        {
            "stem": {"type": "conv", "patch": 7, "channels": 32},
            "dim": 48,
            "blocks": [attn(4, 1), mix(4), attn(2, 2)],
            "pool": "cls",
            "dropout": 0.1,
        }
    )
    choices = s.encode(g)
    assert choices[:6] == [1, 1, 1, 1, 0, 1]
    assert choices[6:15] == [1, 2, 0, 2, 0, 2, 1, 1, 1] and choices[15:] == [0] * 9
    assert s.decode(choices) == g


def test_decode_of_all_empty_slots_gives_min_blocks_filler_blocks() -> None:
    s = space(MNIST, min_blocks=2)
    g = s.decode([0] * len(s.decisions()))
    assert g["blocks"] == [attn(1, 1), attn(1, 1)] and g["stem"] == {"type": "patch", "patch": 4}


def test_decode_rejects_out_of_range_choices_naming_the_position() -> None:
    s = space(MNIST)
    choices = [0] * len(s.decisions())
    choices[3] = 5  # dims has five values: 0..4
    with pytest.raises(ValueError, match=r"choices\[3\].*\[0, 4\]"):
        s.decode(choices)
    with pytest.raises(ValueError, match="choices"):
        s.decode([0, 1])


# --- cost ------------------------------------------------------------------------------------------------
COST_CASES = [
    genome([attn(2, 2), mix(4)], patch=4, pool="cls", dropout=0.1),
    genome([mix(1)], patch=7, dim=32),
    genome([attn(4, 1), attn(1, 4)], stem={"type": "conv", "patch": 8, "channels": 16}, dim=32, pool="cls"),
    genome([attn(2, 2)] * 3, stem={"type": "conv", "patch": 3, "channels": 8}, dim=48),
]


@pytest.mark.parametrize("task", TASKS, ids=lambda t: "x".join(map(str, t.input_shape)))
@pytest.mark.parametrize("g", COST_CASES, ids=["p4-cls", "p7-mixer", "conv8-cls", "conv3"])
def test_cost_equals_built_models_params_and_flop_counter(task: TaskShape, g: dict) -> None:
    s = space(task, patches=[3, 4, 7, 8])
    model = s.build(g)
    cost = s.cost(g)
    assert cost["params"] == count_params(model)
    assert cost["flops"] == count_flops(model, task.input_shape)


def test_cost_matches_a_hand_count_for_a_one_block_net() -> None:
    # 8x8 image, patch 4: 4 tokens of width 8, one 2-head attention block with MLP x2, mean pool, 10 classes.
    s = space(TINY)
    g = genome([attn(2, 2)], patch=4, dim=8)
    embed = 16 * 8 + 8 + 4 * 8  # patch conv (1 channel, 4x4, bias) + position embeddings
    block = 2 * 8 + (8 * 24 + 24) + (8 * 8 + 8) + 2 * 8 + (8 * 16 + 16) + (16 * 8 + 8)
    head = 2 * 8 + 8 * 10 + 10
    assert s.cost(g)["params"] == embed + block + head
    flops = 2 * 4 * 16 * 8  # patch conv
    flops += 2 * 4 * 8 * 24 + 2 * 2 * 4 * 4 * 8 + 2 * 4 * 8 * 8 + 2 * 2 * 4 * 8 * 16  # qkv, attn, proj, mlp
    flops += 2 * 8 * 10
    assert s.cost(g)["flops"] == flops


# --- graph and description -------------------------------------------------------------------------------
def test_graph_lists_input_stem_blocks_pool_and_head_with_shapes_and_params() -> None:
    s = space(MNIST)
    g = genome([attn(2, 2), mix(4)], stem={"type": "conv", "patch": 7, "channels": 16}, dim=32, pool="cls")
    graph = s.to_graph(g)
    nodes = graph["nodes"]
    assert [n["id"] for n in nodes] == ["input", "stem", "B0", "B1", "pool", "head"]
    assert nodes[2]["label"] == "MHSA h=2 · MLP x2" and nodes[3]["label"] == "Token-MLP · MLP x4"
    assert nodes[1]["label"] == "Conv3x3 16 · Patch 7x7 → 32"
    assert [n["shape"] for n in nodes] == [[1, 28, 28], [17, 32], [17, 32], [17, 32], [32], [10]]
    assert sum(n["params"] for n in nodes) == s.cost(g)["params"]
    assert [(e["source"], e["target"]) for e in graph["edges"]] == list(
        zip(["input", "stem", "B0", "B1", "pool"], ["stem", "B0", "B1", "pool", "head"], strict=True)
    )
    json.dumps(graph)


def test_describe_names_stem_width_blocks_pool_and_dropout() -> None:
    s = space(MNIST)
    g = genome([attn(2, 2), mix(4)], stem={"type": "conv", "patch": 4, "channels": 32}, dim=64, pool="cls")
    assert s.describe({**g, "dropout": 0.1}) == "C32P4-d64-A2r2-Mr4-cls-dr0.1"
    assert s.describe(genome([mix(1)], patch=7, dim=32)) == "P7-d32-Mr1-mean"


# --- training --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stem", [{"type": "patch", "patch": 4}, {"type": "conv", "patch": 4, "channels": 8}])
def test_tiny_model_trains_and_loss_falls_on_a_fixed_batch(stem: dict) -> None:
    torch.manual_seed(0)
    s = space(MNIST)
    model = s.build(genome([attn(2, 2), mix(2)], stem=stem, dim=16, pool="cls", dropout=0.1))
    x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(model.train()(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.5 * losses[0]


def test_model_runs_under_cpu_bf16_autocast_and_channels_last() -> None:
    s = space(CIFAR)
    model = s.build(genome([attn(2), mix()], stem={"type": "conv", "patch": 8, "channels": 8}, pool="cls"))
    model = model.to(memory_format=torch.channels_last).eval()
    x = torch.randn(2, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.shape == (2, 10) and torch.isfinite(out.float()).all()


def test_exported_onnx_matches_torch_for_batch_one_and_three(tmp_path) -> None:
    import numpy as np
    import onnxruntime as ort

    from worker.nas.evaluation.export import export_model

    s = space(MNIST)
    g = genome([attn(2), mix()], stem={"type": "conv", "patch": 8, "channels": 4}, pool="cls")
    model = s.build(g).eval()
    paths = export_model(model, tmp_path, input_shape=(1, 28, 28), card={"genome": g})
    session = ort.InferenceSession(paths["onnx"])
    for batch in (1, 3):
        x = torch.randn(batch, 1, 28, 28)
        with torch.no_grad():
            expected = model(x).numpy()
        got = session.run(None, {"input": x.numpy()})[0]
        np.testing.assert_allclose(got, expected, atol=1e-4)
