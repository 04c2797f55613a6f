"""The algorithm library of the RL designer (spec 11 §2.3) as data mapped onto RLlib 2.60.

Every algorithm the product lists is a row: its hyper-parameters as the manual's tables (property
names lowercase, defaults as printed, errata in `note`), each mapped onto the new-API-stack config
method and keyword of RLlib 2.60 ("training.lr", "training.replay_buffer_config.capacity": the last
part is a key of that dict argument). A parameter with no counterpart in the new stack maps to None
(shown in the form, not passed on). Algorithms RLlib has removed since 2.7 carry `removed`, which
names the replacement; validation refuses them before anything runs.

Ray-free on purpose: the portal and the component catalog read this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.pipelines.components import prop

KINDS = ("online", "multi-agent", "offline")


@dataclass(frozen=True)
class Algorithm:
    name: str  # the manual's name, "PPO"
    kind: str  # "online" | "multi-agent" | "offline"
    config: str  # RLlib config class ("ray.rllib.algorithms.ppo.PPOConfig"); "" when removed
    params: dict[str, dict] = field(default_factory=dict)  # property -> JSON-Schema property
    maps: dict[str, str | None] = field(default_factory=dict)  # property -> "method.kwarg[.key]"; None = UI only
    removed: str = ""  # non-empty: RLlib dropped it; says what to use instead
    replacement: str = ""
    note: str = ""
    #: online algorithms RLlib trains multi-agent through `config.multi_agent(...)`
    multi_agent: bool = False
    #: the action spaces the algorithm handles in RLlib 2.60 ("discrete", "continuous")
    actions: tuple[str, ...] = ("discrete", "continuous")

    @property
    def offline(self) -> bool:
        return self.kind == "offline"

    def defaults(self) -> dict[str, Any]:
        return {k: p.get("default") for k, p in self.params.items()}

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "config": self.config,
            "removed": self.removed,
            "replacement": self.replacement,
            "note": self.note,
            "multi_agent": self.multi_agent,
            "actions": list(self.actions),
            "maps": dict(self.maps),
            "schema": {"type": "object", "properties": self.params},
        }


# A row of a parameter table: name, prop kind, default, extra prop() keywords, RLlib path or None.
Row = tuple[str, str, Any, dict[str, Any], str | None]

UNIT = {"minimum": 0, "maximum": 1}  # the manual's "(0,1)"
POS = {"minimum": 0}

BASE: list[Row] = [
    # Errata 11: the manual gives 3000 only as an example; it is the form's default here.
    (
        "train_batch_size",
        "int",
        3000,
        {"minimum": 1, "description": "samples per training iteration"},
        "training.train_batch_size_per_learner",
    ),
    ("lr", "float", 0.00005, UNIT, "training.lr"),
    ("gamma", "float", 0.99, {**UNIT, "description": "MDP discount factor"}, "training.gamma"),
]

_RB = "training.replay_buffer_config."
DQN_RB: list[Row] = [
    ("num_atoms", "int", 1, {"minimum": 1}, "training.num_atoms"),
    ("v_min", "int", -10, {}, "training.v_min"),
    ("v_max", "int", 10, {}, "training.v_max"),
    ("noisy", "bool", False, {}, "training.noisy"),
    ("sigma0", "float", 0.5, UNIT, "training.sigma0"),
    ("dueling", "bool", True, {}, "training.dueling"),
    ("double_q", "bool", True, {}, "training.double_q"),
    ("n_step", "int", 1, {"minimum": 1}, "training.n_step"),
    ("td_error_loss_fn", "str", "huber", {"enum": ("huber", "mse")}, "training.td_error_loss_fn"),
    ("categorical_distribution_temperature", "float", 1.0, UNIT, "training.categorical_distribution_temperature"),
    ("no_local_replay_buffer", "bool", True, {}, None),  # old stack: the new one always has a learner-side buffer
    ("capacity", "int", 10000, {"minimum": 1}, _RB + "capacity"),
    ("prioritized_replay_alpha", "float", 0.6, UNIT, _RB + "alpha"),
    ("prioritized_replay_beta", "float", 0.4, UNIT, _RB + "beta"),
    # Errata 1: printed as the integer 50000; a priority epsilon is tiny. RLlib 2.60's
    # PrioritizedEpisodeReplayBuffer has no epsilon argument any more.
    ("prioritized_replay_eps", "float", 1e-06, POS, None),
]

DDPG_B: list[Row] = [
    ("twin_q", "bool", False, {}, None),
    ("policy_delay", "int", 1, {"minimum": 1}, None),
    ("smooth_target_policy", "bool", False, {}, None),
    ("target_noise", "float", 0.2, UNIT, None),
    ("target_noise_clip", "float", 0.5, UNIT, None),
    ("use_state_preprocessor", "bool", False, {}, None),
    ("n_step", "int", 1, {"minimum": 1}, None),
    ("critic_lr", "float", 0.001, UNIT, None),
    ("actor_lr", "float", 0.001, UNIT, None),
    ("tau", "float", 0.002, UNIT, None),
    ("use_huber", "bool", False, {}, None),
    ("huber_threshold", "float", 1.0, POS, None),
    ("l2_reg", "float", 0.000001, UNIT, None),
]

REPLAY_ONLY: list[Row] = [
    r
    for r in DQN_RB
    if r[0]
    in (
        "no_local_replay_buffer",
        "capacity",
        "prioritized_replay_alpha",
        "prioritized_replay_beta",
        "prioritized_replay_eps",
    )
]

ROWS: dict[str, list[Row]] = {
    "A2C": [*BASE, ("microbatch_size", "int", 10, {"minimum": 1}, None)],
    "A3C": [
        *BASE,
        ("use_critic", "bool", True, {}, None),
        ("gae", "bool", True, {}, None),
        ("lambda_", "float", 1.0, UNIT, None),
        ("grad_clip", "int", 40, {"minimum": 1}, None),
        ("vf_loss_coeff", "float", 0.5, UNIT, None),
        ("entropy_coeff", "float", 0.001, UNIT, None),
        ("sample_async", "bool", False, {}, None),
    ],
    "APEX_DDPG": [*BASE, *REPLAY_ONLY],
    "APEX_DQN": [*BASE, *DQN_RB],
    "APPO": [
        *BASE,
        ("vtrace", "bool", True, {}, "training.vtrace"),
        ("use_critic", "bool", True, {}, None),  # deprecated in 2.60 (the critic is always used)
        ("use_gae", "bool", True, {}, "training.use_gae"),
        ("lambda_", "float", 1.0, UNIT, "training.lambda_"),
        ("clip_param", "float", 0.4, UNIT, "training.clip_param"),
        ("use_kl_loss", "bool", False, {}, "training.use_kl_loss"),
        ("kl_coeff", "float", 1.0, UNIT, "training.kl_coeff"),
        ("kl_target", "float", 0.01, UNIT, "training.kl_target"),
    ],
    "DDPG": [*BASE, *DDPG_B],
    "DQN": [*BASE, *DQN_RB],
    "IMPALA": [
        *BASE,
        ("minibatch_buffer_size", "int", 1, {"minimum": 1}, None),  # old stack only
        ("num_sgd_iter", "int", 1, {"minimum": 1}, "training.num_epochs"),
        ("replay_proportion", "float", 0.0, POS, "training.replay_proportion"),
        ("replay_buffer_num_slots", "int", 0, POS, "training.replay_buffer_num_slots"),
        ("learner_queue_size", "int", 16, POS, "training.learner_queue_size"),
        ("learner_queue_timeout", "int", 300, POS, "training.learner_queue_timeout"),
        ("grad_clip", "int", 40, POS, "training.grad_clip"),
        ("opt_type", "str", "adam", {"enum": ("adam", "rmsprop")}, "training.opt_type"),
        ("decay", "float", 0.99, UNIT, "training.decay"),
        ("momentum", "float", 0.0, UNIT, "training.momentum"),
        ("epsilon", "float", 0.1, UNIT, "training.epsilon"),
        ("vf_loss_coeff", "float", 0.5, UNIT, "training.vf_loss_coeff"),
        ("entropy_coeff", "float", 0.01, UNIT, "training.entropy_coeff"),
        ("_separate_vf_optimizer", "bool", False, {}, "training._separate_vf_optimizer"),
        ("_lr_vf", "float", 0.0005, UNIT, "training._lr_vf"),
    ],
    "PG": [*BASE],
    "PPO": [
        *BASE,
        ("use_critic", "bool", True, {}, "training.use_critic"),
        ("use_gae", "bool", True, {}, "training.use_gae"),
        ("lambda_", "float", 1.0, UNIT, "training.lambda_"),
        ("kl_coeff", "float", 0.2, UNIT, "training.kl_coeff"),
        ("sgd_minibatch_size", "int", 128, {"minimum": 1}, "training.minibatch_size"),
        ("num_sgd_iter", "int", 30, {"minimum": 1}, "training.num_epochs"),
        ("shuffle_sequences", "bool", True, {}, "training.shuffle_batch_per_epoch"),
        ("vf_loss_coeff", "float", 1.0, UNIT, "training.vf_loss_coeff"),
        ("entropy_coeff", "float", 0.0, UNIT, "training.entropy_coeff"),
        ("clip_param", "float", 0.4, UNIT, "training.clip_param"),
        ("vf_clip_param", "float", 10.0, POS, "training.vf_clip_param"),
        ("kl_target", "float", 0.01, UNIT, "training.kl_target"),
    ],
    "R2D2": [*BASE, *DQN_RB],
    "SAC": [
        *[(n, k, d, x, "training.actor_lr" if n == "lr" else m) for n, k, d, x, m in BASE],
        ("twin_q", "bool", True, {}, "training.twin_q"),
        ("clip_actions", "bool", False, {}, "training.clip_actions"),
        ("initial_alpha", "float", 1.0, UNIT, "training.initial_alpha"),
        ("n_step", "int", 1, {"minimum": 1}, "training.n_step"),
        ("store_buffer_in_checkpoints", "bool", False, {}, "training.store_buffer_in_checkpoints"),
        ("target_network_update_freq", "int", 0, POS, "training.target_network_update_freq"),
    ],
    "TD3": [*BASE, *DDPG_B],
    "MADDPG": [
        *BASE,
        ("use_local_critic", "bool", False, {}, None),
        ("use_state_preprocessor", "bool", False, {}, None),
        ("n_step", "int", 1, {"minimum": 1}, None),
        ("num_steps_sampled_before_learning_starts", "int", 3000, POS, None),
        ("critic_lr", "float", 0.001, UNIT, None),
        ("actor_lr", "float", 0.001, UNIT, None),
        ("target_network_update_freq", "int", 0, POS, None),
        ("tau", "float", 0.002, UNIT, None),
        ("actor_feature_reg", "float", 0.001, UNIT, None),
        ("grad_norm_clipping", "float", 0.5, UNIT, None),
    ],
    "QMIX": [
        *BASE,
        ("mixer", "str", "qmix", {"enum": ("qmix", "vdn")}, None),
        ("mixing_embed_dim", "int", 32, POS, None),
        ("double_q", "bool", True, {}, None),
        ("target_network_update_freq", "int", 500, POS, None),
        ("num_steps_sampled_before_learning_starts", "int", 1000, POS, None),
        ("optim_alpha", "float", 0.99, UNIT, None),
        ("optim_eps", "float", 0.0001, UNIT, None),
        ("grad_clip", "float", 10.0, POS, None),
        ("simple_optimizer", "bool", True, {}, None),
    ],
    # Offline: the manual lists no batch size / lr / gamma. grad_clip 0 means "no clipping" (RLlib None).
    "BC": [
        ("beta", "float", 0.0, POS, "training.beta"),
        ("bc_logstd_coeff", "float", 0.0, POS, "training.bc_logstd_coeff"),
        ("moving_average_sqd_adv_norm_start", "float", 0.0001, UNIT, "training.moving_average_sqd_adv_norm_start"),
        ("use_gae", "bool", True, {}, None),
        ("vf_coeff", "float", 1.0, POS, "training.vf_coeff"),
        ("grad_clip", "float", 0.0, POS, "training.grad_clip"),
    ],
    "CRR": [
        ("temperature", "float", 1.0, POS, None),
        ("max_weight", "float", 20.0, POS, None),
        ("n_action_sample", "int", 4, {"minimum": 1}, None),
        ("target_network_update_freq", "int", 100, POS, None),
        ("actor_hiddens", "list", [256, 256], {}, None),
        ("actor_hidden_activation", "str", "relu", {}, None),
        ("critic_hiddens", "list", [256, 256], {}, None),
        ("critic_hidden_activation", "str", "relu", {}, None),
        ("tau", "float", 0.0005, UNIT, None),
        ("categorical_distribution_temperature", "float", 1.0, UNIT, None),
        ("weight_type", "str", "bin", {"enum": ("bin", "exp")}, None),
        ("advantage_type", "str", "mean", {"enum": ("max", "mean", "expectation")}, None),
        ("twin_q", "bool", True, {}, None),
        ("td_error_loss_fn", "str", "mse", {"enum": ("huber", "mse")}, None),
    ],
    "CQL": [
        ("bc_iters", "int", 2000, POS, "training.bc_iters"),
        ("temperature", "float", 1.0, POS, "training.temperature"),
        ("num_actions", "int", 10, {"minimum": 1}, "training.num_actions"),
        ("lagrangian_thresh", "float", 5.0, POS, "training.lagrangian_thresh"),
        ("min_q_weight", "float", 5.0, POS, "training.min_q_weight"),
        ("lagrangian", "bool", False, {}, "training.lagrangian"),
    ],
}
ROWS["MARWIL"] = [(n, k, 1.0 if n == "beta" else d, x, m) for n, k, d, x, m in ROWS["BC"]]

#: Config calls made whatever the user sets: RLlib's SAC and CQL refuse the base `lr`.
FIXED: dict[str, dict[str, dict[str, Any]]] = {"SAC": {"training": {"lr": None}}, "CQL": {"training": {"lr": None}}}

#: Parameters whose 0 means "off" in the manual and None in RLlib (a clip of 0 would zero the gradients).
ZERO_IS_NONE = frozenset({"grad_clip"})

_CFG = "ray.rllib.algorithms."
CONFIGS = {
    "APPO": "appo.APPOConfig",
    "DQN": "dqn.DQNConfig",
    "IMPALA": "impala.IMPALAConfig",
    "PPO": "ppo.PPOConfig",
    "SAC": "sac.SACConfig",
    "BC": "bc.BCConfig",
    "CQL": "cql.CQLConfig",
    "MARWIL": "marwil.MARWILConfig",
}

REMOVED = {  # name -> (replacement, why that one)
    "A2C": ("PPO", "synchronous advantage actor-critic; PPO is its clipped successor"),
    "A3C": ("PPO", "asynchronous sampling is APPO/IMPALA's; PPO for the same on-policy updates"),
    "PG": ("PPO", "vanilla policy gradient; PPO with its defaults covers it"),
    "DDPG": ("SAC", "off-policy actor-critic for continuous actions, twin Q"),
    "TD3": ("SAC", "twin Q, target smoothing"),
    "APEX_DDPG": ("SAC", "distributed replay is the new stack's default for SAC"),
    "APEX_DQN": ("DQN", "prioritized replay and several env runners; or APPO for throughput"),
    "R2D2": ("DQN", "recurrent Q-learning: DQN with an LSTM RLModule"),
    "MADDPG": ("PPO", "multi-agent PPO through RLlib's multi-agent API"),
    "QMIX": ("PPO", "multi-agent PPO through RLlib's multi-agent API"),
    "CRR": ("CQL", "offline critic-regularised learning; or MARWIL"),
}

KIND_OF = {
    "MADDPG": "multi-agent",
    "QMIX": "multi-agent",
    "BC": "offline",
    "CRR": "offline",
    "CQL": "offline",
    "MARWIL": "offline",
}
ACTIONS = {
    "SAC": ("continuous",),
    "CQL": ("continuous",),
    "DQN": ("discrete",),
    "APEX_DQN": ("discrete",),
    "R2D2": ("discrete",),
    "DDPG": ("continuous",),
    "TD3": ("continuous",),
    "APEX_DDPG": ("continuous",),
}
NOTES = {
    "PPO": "Manual clip_param 0.4 (RLlib 0.3, erratum 3); 'K1_coeff' is kl_coeff. sgd_minibatch_size -> "
    "minibatch_size, num_sgd_iter -> num_epochs, shuffle_sequences -> shuffle_batch_per_epoch.",
    "DQN": "prioritized_replay_eps printed 50000 (erratum 1): shown as 1e-06, not passed (RLlib 2.60's "
    "prioritized buffer has no epsilon). no_local_replay_buffer is old-stack only.",
    "APPO": "use_critic is deprecated in RLlib 2.60 (the critic is always used): shown only.",
    "IMPALA": "num_sgd_iter -> num_epochs; minibatch_buffer_size is old-stack only: shown only. "
    "replay_proportion is a ratio (erratum 4).",
    "SAC": "Continuous actions only in RLlib 2.60. lr is the actor's learning rate (RLlib's SAC refuses the "
    "base lr; critic_lr and alpha_lr keep RLlib's defaults).",
    "BC": "Beta must stay 0 (0 = plain imitation). grad_clip 0 = no clipping. moving_average_sqd_adv_norm_start "
    "0.0001 as the manual (RLlib 100.0, erratum 5); use_gae has no new-stack counterpart: shown only.",
    "MARWIL": "Heading printed 'MARWIL2' (erratum 6). grad_clip 0 = no clipping; use_gae shown only.",
    "CQL": "Continuous actions only in RLlib 2.60 (SAC-based). bc_iters 2000 as the manual (RLlib 20000).",
    "TD3": "Manual defaults equal DDPG's (erratum 2).",
    "APEX_DDPG": "The manual lists only replay parameters (erratum 9).",
}


def _schema(rows: list[Row]) -> tuple[dict[str, dict], dict[str, str | None]]:
    params, maps = {}, {}
    for name, kind, default, extra, path in rows:
        extra = dict(extra)
        params[name] = prop(kind, default, title=name, nullable=False, **extra)
        maps[name] = path
    return params, maps


def _build() -> dict[str, Algorithm]:
    out: dict[str, Algorithm] = {}
    for name, rows in ROWS.items():
        params, maps = _schema(rows)
        replacement, why = REMOVED.get(name, ("", ""))
        removed = f"{name} was removed from RLlib 2.60: use {replacement} ({why})" if replacement else ""
        if removed:
            maps = {k: None for k in maps}
        out[name] = Algorithm(
            name=name,
            kind=KIND_OF.get(name, "online"),
            config=_CFG + CONFIGS[name] if name in CONFIGS else "",
            params=params,
            maps=maps,
            removed=removed,
            replacement=replacement,
            note=NOTES.get(name, ""),
            multi_agent=name in ("PPO", "APPO", "IMPALA", "DQN", "SAC"),
            actions=ACTIONS.get(name, ("discrete", "continuous")),
        )
    return out


ALGORITHMS: dict[str, Algorithm] = _build()


def config_calls(name: str, params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The manual's property values as RLlib config calls: {"training": {"lr": 5e-05, ...}}.

    A dotted third part ("training.replay_buffer_config.capacity") becomes a dict argument;
    the caller merges it into the config's own dict (keys it does not set keep RLlib's values).
    UI-only (None-mapped) properties are left out; unknown ones are the validator's business."""
    algo = ALGORITHMS[name]
    values = {**algo.defaults(), **{k: v for k, v in params.items() if k in algo.params}}
    calls: dict[str, dict[str, Any]] = {m: dict(kw) for m, kw in FIXED.get(name, {}).items()}
    for key, value in values.items():
        path = algo.maps.get(key)
        if path is None:
            continue
        if key in ZERO_IS_NONE and value == 0:
            value = None
        method, kwarg, *sub = path.split(".")
        args = calls.setdefault(method, {})
        if sub:
            args.setdefault(kwarg, {})[sub[0]] = value
        else:
            args[kwarg] = value
    return calls
