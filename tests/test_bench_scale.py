"""The scale benchmark: LLaDA2.1-mini's shape (checked on the meta device: no memory, no GPU), and
the same code path end to end at the tiny scale on CPU."""

import sys

import pytest

from t2m.bench import scale

from conftest import cli_env


@pytest.mark.parametrize("arch", ["glm4_moe", "qwen2_moe"])
def test_llada2_1_mini_shape(arch):
    lm = scale.build_model("llada2_1_mini", arch, "meta", "bfloat16", logit_std=32.0)
    model, config = lm.model, lm.model.config
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads, config.num_key_value_heads, config.head_dim) == (20, 2048, 16, 4, 128)
    assert config.vocab_size == 157184 and lm.mask_id < 157184 and lm.eos_id < 157184
    dense, moe = model.model.layers[0].mlp, model.model.layers[1].mlp
    assert dense.gate_proj.out_features == 5120 and not hasattr(dense, "experts")
    assert len(moe.experts) == 256 and moe.experts[0].gate_proj.out_features == 512 and config.num_experts_per_tok == 8
    shared = moe.shared_experts if arch == "glm4_moe" else moe.shared_expert
    assert shared.gate_proj.out_features == 512  # one shared expert of the routed experts' width
    assert all(p.dtype.is_floating_point and str(p.dtype) == "torch.bfloat16" for p in model.parameters())
    # LLaDA2.1-mini: 16B parameters, 1.4B active per token (embedding included)
    embedding = model.model.embed_tokens.weight.numel()
    assert 16.2e9 < lm.num_parameters < 16.3e9
    assert 1.40e9 < scale.active_parameters(lm) + embedding < 1.45e9


@pytest.mark.parametrize("arch", ["glm4_moe", "qwen2_moe"])
def test_tiny_scale_prints_every_figure(capsys, arch):
    scale.main(["--scale", "tiny", "--arch", arch, "--batch-sizes", "1,3", "--min-rows", "2", "--gen-length", "40", "--threads", "1"])
    out = capsys.readouterr().out
    table = [line.split() for line in out.splitlines() if line.split() and line.split()[0].isdigit()]
    assert [row[:2] for row in table] == [["1", "2"], ["3", "3"]]  # batch, rows
    assert all(float(row[3]) > 0 and float(row[4]) > 0 and float(row[5]) > 0 for row in table)  # rows/s, tokens/s, row-fwd/s
    assert "largest batch that fits: 3" in out
    assert "of wall time outside the forward" in out
    assert out.count("projected paper ablation") == 2 and "computed from the throughput measured above on cpu (float32)" in out
    assert "peak RSS" in out


@pytest.mark.parametrize(
    "args, message",
    [(["--device", "cuda"], "--device cuda: CUDA is not available here; --scale tiny runs on CPU (or pass --device cpu)"), (["--batch-sizes", "1,x"], "--batch-sizes='1,x' is invalid; allowed: comma-separated integers >= 1, e.g. 1,8,64")],
)
def test_scale_bad_input_is_one_line_exit_2(tmp_path, args, message):
    import subprocess

    p = subprocess.run([sys.executable, "-m", "t2m.bench", "--scale", "tiny", *args], cwd=tmp_path, env=cli_env(tmp_path),
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert (p.returncode, p.stderr) == (2, f"t2m.bench: {message}\n")
