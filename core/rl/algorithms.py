"""The product's RL algorithm library (spec 11 §2.3) as rows of data mapped onto RLlib 2.60.

Each row keeps the manual's property names (lower-cased) and defaults, and maps every property
onto the RLlib config call that takes it: "training.lr" is `config.training(lr=...)`,
"training.replay_buffer_config.capacity" a key of the dict given as `replay_buffer_config`.
None maps a property the new API stack has no counterpart for (kept in the document, shown
with its note, not passed). Algorithms RLlib removed since the product's Ray 2.7 carry
`removed`: validation refuses them with the replacement, and the form shows it before a run.

Importing this module never imports ray (the portal's palette reads it); `rllib_calls` turns a
row and its values into plain {method: kwargs} and `build_config` (job side) applies them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.pipelines.components import prop

ONLINE, MULTI_AGENT, OFFLINE = "online", "multi-agent", "offline"
KINDS = (ONLINE, MULTI_AGENT, OFFLINE)
RAY_VERSION = "2.60"


@dataclass(frozen=True)
class Algorithm:
    name: str  # the manual's name ("PPO")
    kind: str  # online | multi-agent | offline
    config: str  # RLlib config class ("ray.rllib.algorithms.ppo.PPOConfig"); "" when removed
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # property -> JSON-Schema property
    maps: dict[str, str | None] = field(default_factory=dict)  # property -> RLlib call path (None: UI only)
    removed: str = ""  # why it cannot run here, naming the replacement
    replacement: str = ""
    note: str = ""  # errata and differences, shown in the property panel

    @property
    def available(self) -> bool:
        return not self.removed

    def defaults(self) -> dict[str, Any]:
        return {k: p["default"] for k, p in self.params.items() if "default" in p}


def _f(default: float | None, lo: float | None = 0, hi: float | None = None, title: str = "") -> dict[str, Any]:
    return prop("float", default, title, minimum=lo, maximum=hi)


def _i(default: int | None, lo: int | None = 1, title: str = "") -> dict[str, Any]:
    return prop("int", default, title, minimum=lo)


def _b(default: bool) -> dict[str, Any]:
    return prop("bool", default, nullable=False)


T = "training."
RB = "training.replay_buffer_config."

# The base parameters of every online algorithm (spec 11 §2.3); Train_batch_size has no default in
# the manual (only "e.g. 3000"): None leaves RLlib's own.
BASE = {"train_batch_size": _i(None, title="Train batch size"), "lr": _f(0.00005, 0, 1, "Lr"),
        "gamma": _f(0.99, 0, 1, "Gamma")}
BASE_MAPS = {"train_batch_size": T + "train_batch_size_per_learner", "lr": T + "lr", "gamma": T + "gamma"}

# [DQN-RB] (DQN, APEX_DQN, R2D2)
DQN_RB = {"num_atoms": _i(1), "v_min": prop("int", -10), "v_max": prop("int", 10), "noisy": _b(False),
          "sigma0": _f(0.5, 0, 1), "dueling": _b(True), "double_q": _b(True), "n_step": _i(1),
          "td_error_loss_fn": prop("str", "huber", enum=("huber", "mse"), nullable=False),
          "categorical_distribution_temperature": _f(1.0, 0, 1), "no_local_replay_buffer": _b(True),
          "capacity": _i(10000), "prioritized_replay_alpha": _f(0.6, 0, 1), "prioritized_replay_beta": _f(0.4, 0, 1),
          "prioritized_replay_eps": _f(1e-6, 0)}
DQN_RB_MAPS: dict[str, str | None] = {
    **{k: T + k for k in ("num_atoms", "v_min", "v_max", "noisy", "sigma0", "dueling", "double_q", "n_step",
                          "td_error_loss_fn", "categorical_distribution_temperature")},
    "no_local_replay_buffer": None, "capacity": RB + "capacity", "prioritized_replay_alpha": RB + "alpha",
    "prioritized_replay_beta": RB + "beta", "prioritized_replay_eps": None}
DQN_NOTE = ("Prioritized_replay_eps is printed as the integer 50000 in the manual (erratum 1); it is a small float. "
            "No_local_replay_buffer has no counterpart in RLlib's new API stack.")

PPO = {"use_critic": _b(True), "use_gae": _b(True), "lambda_": _f(1.0, 0, 1, "Lambda"),
       "kl_coeff": _f(0.2, 0, 1), "sgd_minibatch_size": _i(128), "num_sgd_iter": _i(30),
       "shuffle_sequences": _b(True), "vf_loss_coeff": _f(1.0, 0, 1), "entropy_coeff": _f(0.0, 0, 1),
       "clip_param": _f(0.4, 0, 1), "vf_clip_param": _f(10.0, 0), "kl_target": _f(0.01, 0, 1)}
PPO_MAPS = {**{k: T + k for k in ("use_critic", "use_gae", "lambda_", "kl_coeff", "vf_loss_coeff", "entropy_coeff",
                                  "clip_param", "vf_clip_param", "kl_target")},
            "sgd_minibatch_size": T + "minibatch_size", "num_sgd_iter": T + "num_epochs",
            "shuffle_sequences": T + "shuffle_batch_per_epoch"}

APPO = {"vtrace": _b(True), "use_critic": _b(True), "use_gae": _b(True), "lambda_": _f(1.0, 0, 1, "Lambda"),
        "clip_param": _f(0.4, 0, 1), "use_kl_loss": _b(False), "kl_coeff": _f(1.0, 0, 1), "kl_target": _f(0.01, 0, 1)}

IMPALA = {"minibatch_buffer_size": _i(1), "num_sgd_iter": _i(1), "replay_proportion": _f(0.0, 0),
          "replay_buffer_num_slots": _i(0, 0), "learner_queue_size": _i(16), "learner_queue_timeout": _i(300),
          "grad_clip": _f(40.0, 0), "opt_type": prop("str", "adam", enum=("adam", "rmsprop"), nullable=False),
          "decay": _f(0.99, 0, 1), "momentum": _f(0.0, 0, 1), "epsilon": _f(0.1, 0, 1), "vf_loss_coeff": _f(0.5, 0, 1),
          "entropy_coeff": _f(0.01, 0, 1), "_separate_vf_optimizer": _b(False), "_lr_vf": _f(0.0005, 0, 1)}
IMPALA_MAPS = {**{k: T + k for k in IMPALA}, "num_sgd_iter": T + "num_epochs"}

SAC = {"twin_q": _b(True), "clip_actions": _b(False), "initial_alpha": _f(1.0, 0, 1), "n_step": _i(1),
       "store_buffer_in_checkpoints": _b(False), "target_network_update_freq": _i(0, 0)}

MARWIL_LIKE = {"bc_logstd_coeff": _f(0.0, 0), "moving_average_sqd_adv_norm_start": _f(100.0, 0),
               "use_gae": _b(True), "vf_coeff": _f(1.0, 0), "grad_clip": _f(None, 0)}
MARWIL_MAPS = {"beta": T + "beta", "bc_logstd_coeff": T + "bc_logstd_coeff",
               "moving_average_sqd_adv_norm_start": T + "moving_average_sqd_adv_norm_start",
               "use_gae": None, "vf_coeff": T + "vf_coeff", "grad_clip": T + "grad_clip"}
MARWIL_NOTE = ("The manual gives moving_average_sqd_adv_norm_start 0.0001 in (0,1) and grad_clip 0 (erratum 5); "
               "RLlib's defaults (100.0, none) are used. use_gae has no counterpart in the new API stack.")

CQL = {"bc_iters": _i(2000, 0), "temperature": _f(1.0, 0), "num_actions": _i(10), "lagrangian_thresh": _f(5.0, 0),
       "min_q_weight": _f(5.0, 0), "lagrangian": _b(False)}


def _removed(name: str, kind: str, replacement: str, why: str = "") -> Algorithm:
    return Algorithm(name, kind, "", removed=(f"{name} was removed from RLlib (Ray {RAY_VERSION}); use {replacement}"
                                              + (f": {why}" if why else "")), replacement=replacement)


ALGORITHMS: dict[str, Algorithm] = {a.name: a for a in (
    _removed("A2C", ONLINE, "PPO", "PPO with use_gae off is the synchronous actor-critic"),
    _removed("A3C", ONLINE, "APPO", "asynchronous sampling with V-trace"),
    _removed("APEX_DDPG", ONLINE, "SAC", "off-policy continuous control with prioritized replay"),
    _removed("APEX_DQN", ONLINE, "DQN", "DQN with more env runners and prioritized replay"),
    Algorithm("APPO", ONLINE, "ray.rllib.algorithms.appo.APPOConfig", {**BASE, **APPO},
              {**BASE_MAPS, **{k: T + k for k in APPO}, "use_critic": None},
              note="APPO always uses a critic in RLlib's new API stack: Use_critic is not passed."),
    _removed("DDPG", ONLINE, "SAC", "twin Q and target smoothing in one off-policy algorithm"),
    Algorithm("DQN", ONLINE, "ray.rllib.algorithms.dqn.DQNConfig", {**BASE, **DQN_RB}, {**BASE_MAPS, **DQN_RB_MAPS},
              note=DQN_NOTE),
    Algorithm("IMPALA", ONLINE, "ray.rllib.algorithms.impala.IMPALAConfig", {**BASE, **IMPALA},
              {**BASE_MAPS, **IMPALA_MAPS},
              note="Replay_proportion is a ratio (p:1), printed as a positive integer in the manual (erratum 4)."),
    _removed("PG", ONLINE, "PPO", "the clipped policy gradient"),
    Algorithm("PPO", ONLINE, "ray.rllib.algorithms.ppo.PPOConfig", {**BASE, **PPO}, {**BASE_MAPS, **PPO_MAPS},
              note="Clip_param 0.4 is the manual's (RLlib's PPO default is 0.3, erratum 3)."),
    _removed("R2D2", ONLINE, "DQN", "recurrent replay is not in the new API stack; DQN with an LSTM model"),
    Algorithm("SAC", ONLINE, "ray.rllib.algorithms.sac.SACConfig", {**BASE, **SAC},
              {**BASE_MAPS, **{k: T + k for k in SAC}}, note="SAC also replaces DDPG, TD3 and APEX_DDPG."),
    _removed("TD3", ONLINE, "SAC", "twin Q and delayed, smoothed targets"),
    _removed("MADDPG", MULTI_AGENT, "PPO", "multi-agent PPO through RLlib's multi-agent API"),
    _removed("QMIX", MULTI_AGENT, "PPO", "multi-agent PPO through RLlib's multi-agent API"),
    Algorithm("BC", OFFLINE, "ray.rllib.algorithms.bc.BCConfig", {"beta": _f(0.0, 0), **MARWIL_LIKE},
              {**MARWIL_MAPS, "beta": None}, note="BC is MARWIL with beta 0. " + MARWIL_NOTE),
    _removed("CRR", OFFLINE, "CQL", "or MARWIL for advantage-weighted imitation"),
    Algorithm("CQL", OFFLINE, "ray.rllib.algorithms.cql.CQLConfig", dict(CQL), {k: T + k for k in CQL},
              note="bc_iters 2000 is the manual's (RLlib's default is 20000)."),
    Algorithm("MARWIL", OFFLINE, "ray.rllib.algorithms.marwil.MARWILConfig", {"beta": _f(1.0, 0), **MARWIL_LIKE},
              MARWIL_MAPS, note=MARWIL_NOTE),
)}


def rllib_calls(algo: Algorithm, values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{config method: kwargs} for the row's values over its defaults; None values keep RLlib's."""
    calls: dict[str, dict[str, Any]] = {}
    for key, value in {**algo.defaults(), **values}.items():
        path = algo.maps.get(key)
        if path is None or value is None:
            continue
        method, _, rest = path.partition(".")
        kwargs = calls.setdefault(method, {})
        arg, _, sub = rest.partition(".")
        if sub:
            kwargs.setdefault(arg, {})[sub] = value
        else:
            kwargs[arg] = value
    return calls


def build_config(algo: Algorithm, values: dict[str, Any]) -> Any:
    """The RLlib AlgorithmConfig for the row (imports ray: job side and tests only)."""
    import importlib

    module, _, cls = algo.config.rpartition(".")
    config = getattr(importlib.import_module(module), cls)()
    for method, kwargs in rllib_calls(algo, values).items():
        if "replay_buffer_config" in kwargs:  # merge into RLlib's own buffer settings, not replace them
            kwargs["replay_buffer_config"] = {**config.replay_buffer_config, **kwargs["replay_buffer_config"]}
        config = getattr(config, method)(**kwargs)
    return config
