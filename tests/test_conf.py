"""Every option of every config group composes, and the composed values are the documented ones."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from t2m.decoding.registry import STRATEGIES, UNMASKING
from t2m.pipeline import cli as sweep
from t2m.pipeline.checks.validate import check

GROUPS = {
    "strategy": sorted(STRATEGIES),  # one YAML per registered strategy, and no other
    "unmasking": sorted(UNMASKING),
    "model": ["tiny", "tiny_carry", "llada2_1_mini", "llada_8b"],
    "dataset": ["arith100", "arith1000", "carry_dev", "carry_test", "cmath", "cmath100", "gsm8k"],
    "tracker": ["wandb_offline", "wandb_online", "none"],
    "sweep": ["carry", "carry_confirm", "carry_confirm_s1", "carry_dev", "demo", "neighbours", "paper_ablation", "quick"],
    "search": ["cheaper", "paper_ablation"],
}


@pytest.fixture(scope="module")
def cfg_of():
    sweep.register_named_sweeps()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(sweep.CONF_DIR), version_base="1.3"):
        yield lambda *overrides: compose("config", overrides=list(overrides), return_hydra_config=True)
    GlobalHydra.instance().clear()


def test_group_options_on_disk_are_the_documented_ones():
    for group, options in GROUPS.items():
        root = sweep.SWEEPS_DIR if group == "sweep" else sweep.CONF_DIR / group
        assert sorted(p.stem for p in root.glob("*.yaml")) == sorted(options), group


@pytest.mark.parametrize("group,option", [(g, o) for g, opts in GROUPS.items() for o in opts])
def test_every_option_composes(cfg_of, group, option):
    cfg = cfg_of(f"{group}={option}")
    assert cfg.hydra.runtime.choices[group] == option
    if group == "model":
        assert set(cfg.model) == {"name_or_path", "revision", "trust_remote_code", "dtype", "device", "mask_id", "eos_id"}
    if cfg.model.device == "cpu":  # the GPU models are checked below without a GPU
        check(cfg)


def test_defaults(cfg_of):
    cfg = cfg_of()
    choices = cfg.hydra.runtime.choices
    assert (choices.strategy, choices.model, choices.dataset, choices.tracker) == ("t2t", "tiny", "arith100", "wandb_offline")
    assert cfg.tracker.mode == "offline" and cfg.model.name_or_path is None
    assert cfg.hydra.sweeper._target_ == "hydra_plugins.t2m_sweepers.UnionSweeper"
    assert "sweep_outputs" in cfg.hydra.callbacks
    dc = check(cfg)
    assert (dc.strategy, dc.tau, dc.c_max, dc.rho_max, dc.threshold, dc.block_length) == ("t2t", 0.5, 1, 0.25, 0.7, 32)


@pytest.mark.parametrize("strategy", GROUPS["strategy"])
def test_strategy_group_sets_top_level_keys_with_paper_tau(cfg_of, strategy):
    cfg = cfg_of(f"strategy={strategy}")
    assert cfg.strategy == strategy and cfg.tau == STRATEGIES[strategy].default_tau
    cfg = cfg_of(f"strategy={strategy}", "tau=0.9")  # the command line beats the group's default
    assert cfg.tau == 0.9


def test_t2t_tau_is_its_editing_threshold(cfg_of):
    assert cfg_of("strategy=t2t", "tau=0.8").editing_threshold == 0.8


def test_dataset_gen_length_matches_the_data_module(cfg_of):
    from t2m.data import GEN_LENGTH

    for name in GROUPS["dataset"]:
        cfg = cfg_of(f"dataset={name}")
        assert cfg.dataset.name == name and cfg.gen_length == cfg.dataset.gen_length == GEN_LENGTH[name]
    assert cfg_of("gen_length=16").gen_length == 16


def test_real_models(cfg_of):
    m = cfg_of("model=llada2_1_mini").model
    assert (m.name_or_path, m.trust_remote_code, m.mask_id, m.eos_id, m.dtype) == ("inclusionAI/LLaDA2.1-mini", True, 156895, 156892, "bfloat16")
    m = cfg_of("model=llada_8b").model
    assert (m.name_or_path, m.trust_remote_code, m.mask_id, m.eos_id) == ("GSAI-ML/LLaDA-8B-Instruct", True, 126336, 126081)


def test_the_carry_model_brings_the_attention_it_was_trained_with(cfg_of):
    from t2m.tiny import BUNDLED

    cfg = cfg_of("model=tiny_carry")
    assert cfg.model.name_or_path == str(BUNDLED["tiny-carry"]) and cfg.attention == "block_causal"
    assert cfg_of("model=tiny_carry", "attention=reference").attention == "reference"  # the command line still wins
    assert cfg_of().attention == "reference"  # the default model keeps the default
    carry = cfg_of("sweep=carry")
    assert (carry.model.name_or_path, carry.dataset.name, carry.attention) == (str(BUNDLED["tiny-carry"]), "carry_test", "block_causal")


def test_named_sweeps_fill_the_union_sweeper(cfg_of):
    cfg = cfg_of("sweep=paper_ablation")
    assert cfg.experiment == "paper_ablation"
    assert list(cfg.hydra.sweeper.grids) == ["t2t_baseline", "lowprob", "t2t_remask", "logitdiff"]
    assert cfg_of("sweep=quick").experiment == "quick"
    assert not cfg_of().hydra.sweeper.grids  # without a named sweep: Hydra's basic behaviour


def test_every_decoding_field_is_a_top_level_key(cfg_of):
    import dataclasses

    from t2m.decoding.config import DecodeConfig

    cfg = cfg_of()
    assert {f.name for f in dataclasses.fields(DecodeConfig)} <= set(cfg), "a DecodeConfig field cannot be set from conf/"
