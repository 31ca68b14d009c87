# GenHyper shared module: only what must stay identical across stages.
#   task suites (Cheetah-Vel, Ant-Dir), the SAC actor whose weights are generated, parameter
#   flattening, deterministic evaluation rollouts, and atomic artifact I/O.
# Definitions follow ../shared/DESIGN.md (Prompt-DT / PEARL task definitions, 200-step episodes).
import math
import os
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn

# ----------------------------------------------------------------------------------------------
# Task suites
# ----------------------------------------------------------------------------------------------
# Ant-Dir goal directions in radians, as stored by Prompt-DT (drawn uniformly in [0, 2pi]).
ANT_DIR_GOALS = (
    1.2033605945679715, 0.42663053293975295, 4.944775479235424, 4.123865140631488, 4.005661927041337,
    3.6166196447991155, 0.2454395410534735, 2.2482091824000023, 5.941902704664186, 0.3772718531319245,
    5.428936649786095, 5.512178944021152, 0.32165928764709933, 4.099267058824251, 3.4667560926228758,
    3.754286493596681, 3.0380999478653634, 1.7780670544024204, 1.87066585880318, 3.5280645037970855,
    2.488439431116824, 4.9555527108165744, 2.629414941289294, 0.9041750006610754, 0.9481747251390378,
    0.3470916400248258, 4.511560745487209, 1.8366841068540096, 1.2489330732603883, 5.223613581580657,
    3.5687934580622827, 0.5173559024487111, 3.42432703215533, 0.9987672483128179, 4.252223478300645,
    0.7443831939965014, 2.795992744398332, 5.579358183330077, 5.009380886994954, 0.42712294662677097,
    6.036807514750099, 4.141909635790574, 4.516203325267859, 4.672030605450681, 5.577812002817041,
    0.8416054504725834, 4.881875268913003, 5.26525595696687, 5.210675507763471, 0.1831988121347493,
)


@dataclass(frozen=True)
class Suite:
    name: str
    env_id: str
    env_kwargs: dict
    num_tasks: int
    test_ids: tuple
    param_names: tuple
    max_episode_steps: int = 200

    def task_params(self, index: int) -> tuple:
        """The MDP parameters of task `index` (what HypLatent is conditioned on)."""
        if self.name == "cheetah-vel":
            return (0.075 * (index + 1),)  # target velocity v_i
        return (ANT_DIR_GOALS[index],)  # goal direction g_i in radians

    @property
    def train_ids(self) -> tuple:
        return tuple(i for i in range(self.num_tasks) if i not in self.test_ids)


SUITES = {
    "cheetah-vel": Suite("cheetah-vel", "HalfCheetah-v5", {}, 40, (2, 7, 15, 23, 26), ("velocity",)),
    "ant-dir": Suite(
        "ant-dir", "Ant-v5", {"include_cfrc_ext_in_observation": False}, 50, (6, 17, 23, 30, 41), ("direction",)
    ),
}


@dataclass(frozen=True)
class Task:
    suite: str
    index: int
    params: tuple

    def to_dict(self) -> dict:
        """Plain-value form stored in artifacts."""
        return {"suite": self.suite, "index": self.index, "params": list(self.params),
                "param_names": list(SUITES[self.suite].param_names)}


def get_suite(name: str, arg: str = "--suite") -> Suite:
    if name not in SUITES:
        raise SystemExit(f"{arg} {name!r}: unknown suite, expected one of {sorted(SUITES)}")
    return SUITES[name]


def get_task(suite: str, index: int, arg: str = "--task-ids") -> Task:
    s = get_suite(suite)
    if not 0 <= index < s.num_tasks:
        raise SystemExit(f"{arg} {index}: outside suite {suite!r}, expected 0..{s.num_tasks - 1}")
    return Task(suite, index, s.task_params(index))


class TaskReward(gym.Wrapper):
    """Replaces the locomotion reward by the task's reward, computed from `info` and the action.

    Cheetah-Vel: r = -|x_velocity - v| - 0.05 ||a||^2
    Ant-Dir:     r = (x_velocity, y_velocity) . (cos g, sin g) - 0.5 ||a||^2 + 1.0
    (the reference never computed contact forces, so its contact cost is 0). Termination stays
    the base env's: never for HalfCheetah, torso z outside [0.2, 1.0] for Ant.
    """

    def __init__(self, env: gym.Env, task: Task):
        super().__init__(env)
        self.task = task

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(action)
        action = np.asarray(action, dtype=np.float64)
        if self.task.suite == "cheetah-vel":
            reward = -abs(info["x_velocity"] - self.task.params[0]) - 0.05 * np.sum(action**2)
        else:
            g = self.task.params[0]
            forward = info["x_velocity"] * math.cos(g) + info["y_velocity"] * math.sin(g)
            reward = forward - 0.5 * np.sum(action**2) + 1.0
        return obs, float(reward), terminated, truncated, info


def make_env(task: Task) -> gym.Env:
    """The task's environment: base MuJoCo env, task reward, 200-step time limit."""
    suite = SUITES[task.suite]
    env = gym.make(suite.env_id, max_episode_steps=suite.max_episode_steps, **suite.env_kwargs)
    return TaskReward(env, task)


# ----------------------------------------------------------------------------------------------
# The actor whose weights are generated (CleanRL's SAC actor)
# ----------------------------------------------------------------------------------------------
LOG_STD_MAX = 2
LOG_STD_MIN = -5


class BatchedLinear(nn.Module):
    """`num_tasks` independent nn.Linear layers applied to (num_tasks, batch, in) in one bmm.

    weight (num_tasks, out, in) and bias (num_tasks, out): slice k is laid out exactly as an
    nn.Linear's weight and bias, and initialized the same way (per task, fan_in = in).
    """

    def __init__(self, in_features: int, out_features: int, num_tasks: int):
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)  # nn.Linear's default init for weight and bias
        self.weight = nn.Parameter(torch.empty(num_tasks, out_features, in_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(num_tasks, out_features).uniform_(-bound, bound))

    def forward(self, x):  # (tasks, batch, in) -> (tasks, batch, out)
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight.transpose(1, 2))


def linear(in_features: int, out_features: int, num_tasks: int | None) -> nn.Module:
    return nn.Linear(in_features, out_features) if num_tasks is None else BatchedLinear(in_features, out_features, num_tasks)


class Actor(nn.Module):
    """SAC Gaussian actor: 2 hidden layers, mean and log-std heads, tanh squashing.

    With `num_tasks=None` it is one policy on (..., obs_dim). With `num_tasks=K` it holds K
    independent policies (every parameter gains a leading K axis) applied to (K, batch, obs_dim);
    the state_dict keys and per-task layout are the same, so task k's slice is a plain Actor.
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 128, action_low=None, action_high=None,
                 num_tasks: int | None = None):
        super().__init__()
        self.fc1 = linear(obs_dim, hidden, num_tasks)
        self.fc2 = linear(hidden, hidden, num_tasks)
        self.fc_mean = linear(hidden, act_dim, num_tasks)
        self.fc_logstd = linear(hidden, act_dim, num_tasks)
        low = torch.as_tensor(action_low if action_low is not None else [-1.0] * act_dim, dtype=torch.float32)
        high = torch.as_tensor(action_high if action_high is not None else [1.0] * act_dim, dtype=torch.float32)
        # buffers, not parameters: they are not part of the generated vector
        self.register_buffer("action_scale", (high - low) / 2.0)
        self.register_buffer("action_bias", (high + low) / 2.0)

    def forward(self, x):
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        mean = self.fc_mean(x)
        log_std = torch.tanh(self.fc_logstd(x))
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (log_std + 1)  # from SpinUp / Denis Yarats
        return mean, log_std

    def get_action(self, x):
        """Reparameterized sample, its log-probability, and the deterministic action tanh(mean)."""
        mean, log_std = self(x)
        normal = torch.distributions.Normal(mean, log_std.exp())
        x_t = normal.rsample()
        y_t = torch.tanh(x_t)
        action = y_t * self.action_scale + self.action_bias
        log_prob = normal.log_prob(x_t) - torch.log(self.action_scale * (1 - y_t.pow(2)) + 1e-6)
        log_prob = log_prob.sum(-1, keepdim=True)
        return action, log_prob, torch.tanh(mean) * self.action_scale + self.action_bias

    def act(self, x):
        """Deterministic evaluation action tanh(mean)."""
        mean, _ = self(x)
        return torch.tanh(mean) * self.action_scale + self.action_bias


# ----------------------------------------------------------------------------------------------
# Parameter flattening: one float32 vector of the actor's parameters in state_dict order
# ----------------------------------------------------------------------------------------------
def _task_axis(actor: Actor) -> list:
    """[] for a single actor, [K] for a task-batched one (the leading axis of every parameter)."""
    return [] if isinstance(actor.fc1, nn.Linear) else [actor.fc1.weight.shape[0]]


def actor_layout(actor: Actor) -> list:
    """[(name, per-policy shape), ...] in state_dict order; parameters only, not buffers."""
    skip = len(_task_axis(actor))
    return [(name, list(p.shape[skip:])) for name, p in actor.named_parameters()]


def flatten_params(actor: Actor) -> torch.Tensor:
    """(P,) for a single actor, (K, P) for a task-batched one."""
    lead = _task_axis(actor)
    return torch.cat([p.detach().reshape(*lead, -1) for p in actor.parameters()], dim=-1).float()


@torch.no_grad()
def load_flat_params(actor: Actor, flat: torch.Tensor) -> Actor:
    """Inverse of flatten_params: writes (P,) or (K, P) into the actor's parameters in place."""
    lead = _task_axis(actor)
    sizes = [math.prod(shape) for _, shape in actor_layout(actor)]
    if list(flat.shape) != lead + [sum(sizes)]:
        raise ValueError(f"flat parameters have shape {list(flat.shape)}, the actor expects {lead + [sum(sizes)]}")
    for p, chunk in zip(actor.parameters(), flat.split(sizes, dim=-1)):
        p.copy_(chunk.reshape(p.shape))
    return actor


# ----------------------------------------------------------------------------------------------
# Deterministic evaluation rollouts
# ----------------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(actor: Actor, tasks: list, episodes: int = 1, seed: int = 0) -> np.ndarray:
    """Deterministic returns, shape (len(tasks), episodes).

    A task-batched actor (K policies) runs policy k on tasks[k]; a single actor runs on every
    task. Episode e of every task starts from `reset(seed=seed + e)`, so two policies evaluated
    with the same seed face the same start states.
    """
    envs = [make_env(t) for t in tasks]
    returns = np.zeros((len(tasks), episodes))
    for ep in range(episodes):
        obs = np.stack([env.reset(seed=seed + ep)[0] for env in envs]).astype(np.float32)  # (K, obs)
        active = np.ones(len(tasks), dtype=bool)
        while active.any():
            action = actor.act(torch.from_numpy(obs).unsqueeze(1)).squeeze(1).numpy()  # (K, act)
            for k in np.flatnonzero(active):
                next_obs, reward, terminated, truncated, _ = envs[k].step(action[k])
                obs[k] = next_obs
                returns[k, ep] += reward
                active[k] = not (terminated or truncated)
    for env in envs:
        env.close()
    return returns


# ----------------------------------------------------------------------------------------------
# Artifacts: plain dicts of tensors and plain values, written atomically, read without pickled code
# ----------------------------------------------------------------------------------------------
def write_atomic(path: str, write) -> None:
    """`write(tmp)` writes the file to `path.tmp`, then it is renamed: a crash never leaves a half-written `path`."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    write(tmp)
    os.replace(tmp, path)


def write_text_atomic(path: str, text: str) -> None:
    """A text file (JSON, a markdown table), atomically (write_atomic)."""
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)
    write_atomic(path, write)


def save_atomic(obj: dict, path: str) -> None:
    """torch.save of an artifact dict, atomically (write_atomic)."""
    write_atomic(path, lambda tmp: torch.save(obj, tmp))


def load_artifact(path: str, kind: str, required: tuple = (), who: str = "genhyper") -> dict:
    """torch.load(weights_only=True) with one-line errors that name the file."""
    if not os.path.isfile(path):
        raise SystemExit(f"{who}: {path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)  # lazy: large collections open fast
    except Exception as e:  # corrupt, truncated, or holds objects a safe load refuses
        raise SystemExit(f"{who}: {path}: not a readable GenHyper artifact ({type(e).__name__})")
    if not isinstance(obj, dict) or obj.get("kind") != kind:
        found = obj.get("kind") if isinstance(obj, dict) else type(obj).__name__
        raise SystemExit(f"{who}: {path}: expected a {kind!r} artifact, found {found!r}")
    missing = [k for k in required if k not in obj]
    if missing:
        raise SystemExit(f"{who}: {path}: {kind!r} artifact lacks fields {missing}")
    return obj


def load_collection(folder: str, who: str, arg: str = "--data") -> dict:
    """{task index: sac_collect artifact} for every task_XX.pt in `folder`; one suite, one actor layout."""
    names = sorted(n for n in os.listdir(folder) if n.startswith("task_") and n.endswith(".pt")) if os.path.isdir(folder) else []
    if not names:
        raise SystemExit(f"{who}: {arg} {folder}: no task files (task_XX.pt from sac_collect.py) found")
    collection, first = {}, None
    for name in names:
        path = os.path.join(folder, name)
        data = load_artifact(path, "sac_collect", ("task", "actor_args", "layout", "params", "returns"), who=who)
        if first is None:
            first = (path, data)
        elif data["task"]["suite"] != first[1]["task"]["suite"]:
            raise SystemExit(f"{who}: {arg} {folder}: mixes suites ({path} is {data['task']['suite']!r}, "
                             f"{first[0]} is {first[1]['task']['suite']!r})")
        elif data["layout"] != first[1]["layout"] or data["actor_args"] != first[1]["actor_args"]:
            raise SystemExit(f"{who}: {arg} {folder}: mixes actor layouts ({path} differs from {first[0]})")
        collection[data["task"]["index"]] = data
    return collection


# ----------------------------------------------------------------------------------------------
# Resumable training: a killed run started again with the same arguments continues where it stopped
# ----------------------------------------------------------------------------------------------
PLUMBING_ARGS = ("log_every", "state_every", "runs_dir")  # a resumed run may change these


def save_training_state(path: str, args, step: int, stateful: dict, **extra) -> None:
    """Atomically saves every object's state_dict(), the RNG, `extra` values and the step."""
    save_atomic({"kind": "training_state", "version": 1, "args": vars(args), "step": step, "rng": torch.get_rng_state(),
                 **{name: obj.state_dict() for name, obj in stateful.items()}, **extra}, path)


def resume_training_state(path: str, args, stateful: dict, who: str) -> dict | None:
    """Loads a state saved by the same arguments into the objects and the RNG; None when there is none."""
    if not os.path.exists(path):
        return None
    state = load_artifact(path, "training_state", ("args", "step", "rng", *stateful), who=who)
    current = vars(args)
    changed = sorted(k for k in set(state["args"]) | set(current)
                     if k not in PLUMBING_ARGS and state["args"].get(k) != current.get(k))
    if changed:
        raise SystemExit(f"{who}: {path}: resume state from other arguments ({', '.join(changed)}); "
                         "rerun with the same arguments or delete it")
    for name, obj in stateful.items():
        obj.load_state_dict(state[name])
    torch.set_rng_state(state["rng"])
    print(f"{who}: resuming from {path} at step {state['step']}")
    return state
