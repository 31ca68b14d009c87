# GenHyper shared module: only what must stay identical across stages. Each block says why it lives here.
#   task suites (Cheetah-Vel, Ant-Dir, MetaWorld), the SAC actor whose weights are generated, parameter
#   flattening, deterministic evaluation rollouts, the parameter autoencoder and the HypLatent generator (the
#   modules that decode a latent), what a generated policy is conditioned on, the policy file format, input and
#   output checks, atomic artifact I/O and resumable training (the training environments a resumed run steps back into).
# Stage scripts import this module and libraries, never each other.
# Definitions follow ../shared/DESIGN.md (Prompt-DT / PEARL task definitions, 200-step episodes; MetaWorld v3
# with Make-An-Agent's fixed goals, 500-step episodes).
import atexit
import dataclasses
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn

# ----------------------------------------------------------------------------------------------
# Task suites: every stage must train and evaluate on the same task definitions
# ----------------------------------------------------------------------------------------------
# Ant-Dir goal directions in radians, as stored by Prompt-DT (drawn uniformly in [0, 2pi]).
# fmt: off
ANT_DIR_GOALS = (  # task i's direction is ANT_DIR_GOALS[i]
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
# fmt: on


# MetaWorld v3 tasks (DESIGN.md): ids 0-7 are the seen (training) tasks, 8-15 the unseen ones. 16-19 are more seen
# tasks, not in the paper (how unseen success grows with the seen tasks): the first four, alphabetically, of the tasks
# Seo et al. (2022) class as easy that share no object with an unseen task and are not among the 16.
# fmt: off
METAWORLD_TASKS = (
    "window-open", "door-open", "drawer-open", "dial-turn", "plate-slide",
    "button-press", "handle-press", "faucet-close",  # seen: 0-7
    "drawer-close", "handle-press-side", "door-lock", "window-close",
    "reach-wall", "coffee-button", "button-press-wall", "faucet-open",  # unseen: 8-15
    "lever-pull", "peg-unplug-side", "plate-slide-back", "plate-slide-back-side",  # more seen: 16-19
)
# fmt: on


@dataclass(frozen=True)
class Suite:
    name: str
    env_id: str
    env_kwargs: dict
    num_tasks: int
    test_ids: tuple
    param_names: tuple
    param_range: tuple  # (low, high) of each MDP parameter a task of the suite may have
    max_episode_steps: int = 200
    task_names: tuple = ()  # MetaWorld: the env name of each task (accepted wherever an id is)
    goal_seeds: tuple = ()  # MetaWorld: the default goals, one goal-observable env per seed (Make-An-Agent: 720, 920)

    def task_params(self, index: int) -> tuple:
        """The MDP parameters of task `index` (what HypLatent is conditioned on); MetaWorld tasks have none."""
        if self.name == "cheetah-vel":
            return (0.075 * (index + 1),)  # target velocity v_i
        if self.name == "ant-dir":
            return (ANT_DIR_GOALS[index],)  # goal direction g_i in radians
        return ()

    @property
    def has_success(self) -> bool:
        """Tasks scored by success (MetaWorld's info["success"] at any step) besides return."""
        return bool(self.goal_seeds)

    @property
    def train_ids(self) -> tuple:
        return tuple(i for i in range(self.num_tasks) if i not in self.test_ids)


SUITES = {
    "cheetah-vel": Suite("cheetah-vel", "HalfCheetah-v5", {}, 40, (2, 7, 15, 23, 26), ("velocity",), ((0.0, 3.0),)),
    "ant-dir": Suite(
        "ant-dir",
        "Ant-v5",
        {"include_cfrc_ext_in_observation": False},
        50,
        (6, 17, 23, 30, 41),
        ("direction",),
        ((0.0, 2 * math.pi),),
    ),  # fmt: skip
    "metaworld": Suite(
        "metaworld", "Meta-World/goal_observable", {}, 20, tuple(range(8, 16)), (), (), 500, METAWORLD_TASKS, (720, 920)
    ),
}


@dataclass(frozen=True)
class Task:
    suite: str
    index: int | None  # None: a task at MDP parameters of the user's choice, not one of the suite's numbered tasks
    params: tuple
    goals: tuple = ()  # MetaWorld: goal seeds; episode e of an evaluation runs on goal e

    @property
    def name(self) -> str:
        names = SUITES[self.suite].task_names
        return names[self.index] if names and self.index is not None else f"{self.suite}-{self.index}"

    def to_dict(self) -> dict:
        """Plain-value form stored in artifacts."""
        return {
            "suite": self.suite,
            "index": self.index,
            "name": self.name,
            "params": list(self.params),
            "param_names": list(SUITES[self.suite].param_names),
            "goals": list(self.goals),
        }

    @staticmethod
    def from_dict(d: dict) -> "Task":
        """The task an artifact was made on (its goals included)."""
        return Task(d["suite"], d["index"], tuple(d["params"]), tuple(d.get("goals", ())))


def get_suite(name: str, arg: str = "--suite") -> Suite:
    if name not in SUITES:
        raise SystemExit(f"{arg} {name!r}: unknown suite, expected one of {sorted(SUITES)}")
    return SUITES[name]


def task_index(suite: str, id_or_name, arg: str = "--task-ids") -> int:
    """A task's index from its id (int or digits) or, in MetaWorld, its env name ("door-open")."""
    s = get_suite(suite)
    if isinstance(id_or_name, str) and not id_or_name.isdigit():
        if id_or_name not in s.task_names:
            expected = f"one of {list(s.task_names)} or an id" if s.task_names else "an integer id"
            raise SystemExit(f"{arg} {id_or_name!r}: not a task of {suite}, expected {expected}")
        return s.task_names.index(id_or_name)
    index = int(id_or_name)
    if not 0 <= index < s.num_tasks:
        raise SystemExit(f"{arg} {index}: outside suite {suite!r}, expected 0..{s.num_tasks - 1}")
    return index


def get_task(suite: str, index, arg: str = "--task-ids", goals: tuple = ()) -> Task:
    """Task `index` (an id, or a MetaWorld env name) of the suite; MetaWorld goals default to the suite's."""
    s = get_suite(suite)
    index = task_index(suite, index, arg)
    return Task(suite, index, s.task_params(index), tuple(goals) or s.goal_seeds)


def task_at(suite: str, params: tuple, arg: str = "--params") -> Task:
    """A task of the suite at any MDP parameters inside its range (index None)."""
    s = get_suite(suite)
    if len(params) != len(s.param_names):
        raise SystemExit(f"{arg} {list(params)}: {suite} tasks have {len(s.param_names)} parameter(s) {list(s.param_names)}")
    for name, value, (low, high) in zip(s.param_names, params, s.param_range):
        if not low <= value <= high:
            raise SystemExit(f"{arg} {value}: outside the {name} range of {suite}, expected {low:g}..{high:g}")
    return Task(suite, None, tuple(float(v) for v in params))


class TaskReward(gym.Wrapper):
    """Replaces the locomotion reward by the task's reward, computed from `info` and the action.

    Cheetah-Vel: r = -|x_velocity - v| - 0.05 ||a||^2
    Ant-Dir:     r = (x_velocity, y_velocity) . (cos g, sin g) - 0.5 ||a||^2 + 1.0
    (the reference never computed contact forces, so its contact cost is 0). Termination stays
    the base env's: never for HalfCheetah, torso z outside [0.2, 1.0] for Ant. The terms go to
    info["reward_terms"] ({"speed", "control"} or {"forward", "control", "alive"}; they sum to r).
    """

    def __init__(self, env: gym.Env, task: Task):
        super().__init__(env)
        self.task = task

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(action)
        action = np.asarray(action, dtype=np.float64)
        if self.task.suite == "cheetah-vel":
            terms = {"speed": -abs(info["x_velocity"] - self.task.params[0]), "control": -0.05 * np.sum(action**2)}
        else:
            g = self.task.params[0]
            forward = info["x_velocity"] * math.cos(g) + info["y_velocity"] * math.sin(g)
            terms = {"forward": forward, "control": -0.5 * np.sum(action**2), "alive": 1.0}
        info["reward_terms"] = {name: float(value) for name, value in terms.items()}
        return obs, float(sum(terms.values())), terminated, truncated, info


class GoalCycle(gym.Env):
    """A MetaWorld task on a fixed set of goals: one goal-observable env per goal seed (Make-An-Agent's
    fixed goals), switching to the next goal at every reset, so episode e runs on goal e mod G.

    `gym.make(..., seed=s)` draws the goal from s and freezes it; `reset(seed=)` does not reseed
    MetaWorld (DESIGN.md), so the goal list, not the reset seed, says which episode runs
    (`reset(options={"goal": g})` picks goal g). MetaWorld truncates its own episodes at step 500.
    """

    def __init__(self, task: Task):
        import metaworld  # noqa: F401  (registers the Meta-World/ gymnasium envs; imported here: it loads MuJoCo's models)

        suite = SUITES[task.suite]
        # gymnasium's env checker warns on every MetaWorld env (its observation box is looser than its observations)
        self.goal_envs = [
            gym.make(suite.env_id, env_name=f"{task.name}-v3", seed=goal, disable_env_checker=True, **suite.env_kwargs)
            for goal in task.goals
        ]
        self.observation_space = self.goal_envs[0].observation_space
        self.action_space = self.goal_envs[0].action_space
        self.goal = -1  # the first reset runs goal 0

    def reset(self, *, seed=None, options=None):
        self.goal = (options or {}).get("goal", (self.goal + 1) % len(self.goal_envs))
        return self.goal_envs[self.goal].reset()

    def step(self, action):
        return self.goal_envs[self.goal].step(action)

    def close(self):
        for env in self.goal_envs:
            env.close()


def make_env(task: Task) -> gym.Env:
    """The task's environment: base MuJoCo env, task reward, 200-step time limit; MetaWorld: its goals in turn."""
    suite = SUITES[task.suite]
    if suite.has_success:
        return GoalCycle(task)
    env = gym.make(suite.env_id, max_episode_steps=suite.max_episode_steps, **suite.env_kwargs)
    return TaskReward(env, task)


# ----------------------------------------------------------------------------------------------
# Training environments that a resumed run steps back into the episodes it stopped in: a stage's resume
# state holds them, so collection and fine-tuning must record and replay them the same way
# ----------------------------------------------------------------------------------------------
class EpisodeRecord(gym.Wrapper):
    """Records how the current episode began (the reset's seed and options, the random generators of the
    environments under it) and every action since, as plain data: episode(). replay() steps a fresh copy of
    the environment back into the same state: MuJoCo is deterministic, so the same start and the same actions
    give the same state, bit for bit (MuJoCo's state mid-episode is not saved; this rebuilds it instead)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.start, self.actions = None, []

    def _bases(self) -> list:  # the environments whose random generators draw this env's episodes
        return [e.unwrapped for e in self.env.goal_envs] if isinstance(self.env, GoalCycle) else [self.env.unwrapped]

    def reset(self, *, seed=None, options=None):
        # _np_random: None until a seeded reset (gymnasium's np_random would seed one from the OS instead)
        rngs = [None if e._np_random is None else e._np_random.bit_generator.state for e in self._bases()]
        obs, info = self.env.reset(seed=seed, options=options)
        if isinstance(self.env, GoalCycle):  # the goal it cycled to
            options = {**(options or {}), "goal": self.env.goal}
        self.start, self.actions = {"seed": seed, "options": options, "rngs": rngs}, []
        return obs, info

    def step(self, action):
        self.actions.append(np.array(action, copy=True))
        return self.env.step(action)

    def episode(self) -> dict:
        actions = np.array(self.actions, dtype=self.action_space.dtype).reshape(len(self.actions), *self.action_space.shape)
        return {**self.start, "actions": torch.from_numpy(actions)}

    def replay(self, episode: dict) -> np.ndarray:
        """Steps this environment into `episode`'s state (from episode()); returns its observation there."""
        for env, rng in zip(self._bases(), episode["rngs"]):
            if rng is not None:
                env.np_random = np.random.Generator(getattr(np.random, rng["bit_generator"])())
                env.np_random.bit_generator.state = rng
        obs, _ = self.reset(seed=episode["seed"], options=episode["options"])
        for action in episode["actions"].numpy():
            obs = self.step(action)[0]
        return obs


class ReplayableEnvs(gym.vector.SyncVectorEnv):
    """A stage's training environments, one per task, stepped together with same-step autoreset (the final
    observation is kept); episodes() and replay() as EpisodeRecord's, for all of them."""

    def __init__(self, tasks: list):
        envs = [lambda t=t: EpisodeRecord(make_env(t)) for t in tasks]
        super().__init__(envs, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)

    def episodes(self) -> list:
        return [env.episode() for env in self.envs]

    def replay(self, episodes: list) -> np.ndarray:
        return np.stack([env.replay(e) for env, e in zip(self.envs, episodes)]).astype(self.single_observation_space.dtype)


# ----------------------------------------------------------------------------------------------
# The actor whose weights are generated (CleanRL's SAC actor): experts are trained as it, generated
# vectors are loaded into it, fine-tuning starts from it; one class, or a vector means nothing
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

    def __init__(
        self, obs_dim: int, act_dim: int, hidden: int = 128, action_low=None, action_high=None, num_tasks: int | None = None
    ):
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
        with torch.autocast(x.device.type, enabled=False):  # the heads stay float32 under a bfloat16 autocast (--bf16)
            x = x.float()
            mean = self.fc_mean(x)
            log_std = torch.tanh(self.fc_logstd(x))
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (log_std + 1)  # from SpinUp / Denis Yarats
        return mean, log_std

    def get_action(self, x):
        """Reparameterized sample, its log-probability, and the deterministic action tanh(mean)."""
        mean, log_std = self(x)
        # no argument validation: a diverged run's NaN reaches the stage's check, which stops it in one line
        normal = torch.distributions.Normal(mean, log_std.exp(), validate_args=False)
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
# Deterministic evaluation rollouts: every return a stage reports (checkpoints, decoded and generated
# policies, fine-tuning curves) comes from this one protocol, so the numbers compare across files
# ----------------------------------------------------------------------------------------------
# MetaWorld behaviour pieces (Make-An-Agent, DESIGN.md): what behavior_embed.py embeds a policy by
TRAJECTORY_STEPS = 60  # the trajectory covers the first 60 steps: every 3rd state and every action
STATE_EVERY = 3
SUCCESS_STATES = 3  # s_m, s_m+1, s_m+2 from the first success step m


def behavior_pieces(states: np.ndarray, actions: np.ndarray, first_success: int) -> tuple[np.ndarray, np.ndarray]:
    """One episode's trajectory (s_0, a_0, a_1, a_2, s_3, a_3, ...: 20*obs + 60*act numbers) and its success states.

    states (T+1, obs) are s_0..s_T, actions (T, act); s_m is the state in which info["success"] first
    holds (m = t + 1 for a success reported by step t), -1 if it never does: then the episode's last 3
    states stand in (a checkpoint kept after its task first succeeded may fail a goal). States past the
    episode's end repeat its last state.
    """
    steps = min(TRAJECTORY_STEPS, len(actions))
    trajectory = np.concatenate(
        [np.concatenate([states[t], actions[t]]) if t % STATE_EVERY == 0 else actions[t] for t in range(steps)]
    )
    m = first_success if first_success >= 0 else len(states) - SUCCESS_STATES
    rows = [states[min(max(m + j, 0), len(states) - 1)] for j in range(SUCCESS_STATES)]
    return trajectory.astype(np.float32), np.concatenate(rows).astype(np.float32)


def policies(actor: Actor, idx: list) -> Actor:
    """Policies `idx` of a task-batched actor, as a task-batched actor of len(idx) (a copy; draws no random numbers)."""
    hidden, obs_dim = actor.fc1.weight.shape[1:]
    with torch.device("meta"):  # no initialization: every tensor is overwritten below
        sub = Actor(obs_dim, actor.fc_mean.weight.shape[1], hidden, num_tasks=len(idx))
    sub.to_empty(device=actor.fc1.weight.device)
    index = torch.as_tensor(idx, device=actor.fc1.weight.device)
    params = dict(actor.named_parameters())
    sub.load_state_dict({name: t[index] if name in params else t for name, t in actor.state_dict().items()})
    return sub


def close_envs(pool: dict) -> None:
    """Closes an evaluation pool {task: [env, ...]} that evaluate() filled."""
    for built in pool.values():
        for env in built:
            env.close()


@torch.no_grad()
def evaluate(
    actor: Actor, tasks: list, episodes: int = 1, seed: int = 0, behavior: bool = False, chunk: int = 32, pool: dict = None
):
    """Deterministic returns, shape (len(tasks), episodes).

    A task-batched actor (K policies) runs policy k on tasks[k]; a single actor runs on every
    task. Episode e of every task starts from `reset(seed=seed + e)`, so two policies evaluated
    with the same seed face the same start states. MetaWorld: episode e runs on goal e of the task
    (the reset seed does not reach MetaWorld). With `behavior`, returns a dict: "returns", "success"
    (K, episodes) (info["success"] at any step), "first_success" (step m, -1 if none), "trajectory"
    (K, episodes, 20*obs + 60*act) and "success_states" (K, episodes, 3*obs) (behavior_pieces).
    Policies run in lockstep groups of `chunk`; a task's environments are built once and reused by
    later groups (building a MetaWorld env costs about as much as 500 of its steps), and by later calls
    that pass the same `pool` {task: [env, ...]} (the caller closes those; without one they are closed here).
    """
    device, batched = next(actor.parameters()).device, bool(_task_axis(actor))
    returns = np.zeros((len(tasks), episodes))
    first_success = np.full((len(tasks), episodes), -1)
    pieces = [[None] * episodes for _ in tasks]
    own_pool, pool = pool is None, {} if pool is None else pool  # task -> its environments built so far
    obs = np.zeros((len(tasks), actor.fc1.weight.shape[-1]), dtype=np.float32)  # (K, obs_dim)
    for start in range(0, len(tasks), chunk):
        group, taken, envs = list(range(start, min(start + chunk, len(tasks)))), {}, {}
        for k in group:  # the n-th policy of a group on task t gets t's n-th environment
            n = taken[tasks[k]] = taken.get(tasks[k], -1) + 1
            pool.setdefault(tasks[k], [])
            if len(pool[tasks[k]]) == n:
                pool[tasks[k]].append(make_env(tasks[k]))
            envs[k] = pool[tasks[k]][n]
        policy = policies(actor, group) if batched else actor  # only the group's policies run
        for ep in range(episodes):
            for k in group:  # MetaWorld: goal e, whatever the environment ran before
                goal = {"options": {"goal": ep % len(tasks[k].goals)}} if tasks[k].goals else {}
                obs[k] = envs[k].reset(seed=seed + ep, **goal)[0]
            states, actions = {k: [obs[k].copy()] for k in group}, {k: [] for k in group}
            active, t = set(group), 0
            while active:
                x = torch.from_numpy(obs[group]).unsqueeze(1).to(device)
                action = dict(zip(group, policy.act(x).squeeze(1).cpu().numpy()))  # policy k -> its action
                t += 1
                for k in sorted(active):
                    next_obs, reward, terminated, truncated, info = envs[k].step(action[k])
                    obs[k] = next_obs
                    returns[k, ep] += reward
                    if terminated or truncated:
                        active.discard(k)
                    if info.get("success", 0.0) >= 1.0 and first_success[k, ep] < 0:
                        first_success[k, ep] = t  # s_t, the state reached by step t - 1, is the first success state
                    if behavior:
                        states[k].append(obs[k].copy())
                        actions[k].append(action[k])
            if behavior:
                for k in group:
                    pieces[k][ep] = behavior_pieces(np.stack(states[k]), np.stack(actions[k]), first_success[k, ep])
    if own_pool:
        close_envs(pool)
    if not behavior:
        return returns
    return {
        "returns": returns,
        "success": (first_success >= 0).astype(np.float32),
        "first_success": first_success,
        "trajectory": np.stack([np.stack([p[0] for p in row]) for row in pieces]),
        "success_states": np.stack([np.stack([p[1] for p in row]) for row in pieces]),
    }


# ----------------------------------------------------------------------------------------------
# The parameter autoencoder (Make-An-Agent's): ae_train.py trains it, hyplatent_train.py trains its
# decoder on (eq. 2) and decodes generated latents with it; the decoding must be the same function
# ----------------------------------------------------------------------------------------------
def augment(x: torch.Tensor, f: float) -> torch.Tensor:
    """Make-An-Agent's noise augmentation: x <- randn * f + x * (1 - f)."""
    return torch.randn_like(x) * f + x * (1 - f)


class ParamAutoencoder(nn.Module):
    """Flat actor parameters (B, P) <-> two latent tokens (B, 2, latent_dim).

    The vector is split into chunks (first layer | rest); each chunk has its own bias-free linear
    encoder, the stacked tokens are LayerNorm-ed and clamped to [-1, 1]; each token has its own
    bias-free linear decoder back to its chunk. The min-max normalizer (features to [-1, 1]) lives in
    the module as buffers, so a saved state_dict is everything needed to decode a policy.
    """

    def __init__(self, chunk_sizes: list, latent_dim: int = 1024, input_noise: float = 0.001, latent_noise: float = 0.01):
        super().__init__()
        self.chunk_sizes, self.input_noise, self.latent_noise = list(chunk_sizes), input_noise, latent_noise
        self.encoders = nn.ModuleList(nn.Linear(c, latent_dim, bias=False) for c in chunk_sizes)
        self.norm = nn.LayerNorm(latent_dim)
        self.decoders = nn.ModuleList(nn.Linear(latent_dim, c, bias=False) for c in chunk_sizes)
        self.register_buffer("x_min", torch.zeros(sum(chunk_sizes)))
        self.register_buffer("x_max", torch.ones(sum(chunk_sizes)))

    def normalize(self, params):  # raw parameters -> [-1, 1] per feature
        return 2 * (params - self.x_min) / (self.x_max - self.x_min).clamp_min(1e-8) - 1

    def denormalize(self, x):  # [-1, 1] -> raw parameters
        return (x + 1) / 2 * (self.x_max - self.x_min).clamp_min(1e-8) + self.x_min

    def encode(self, x):  # normalized (B, P) -> (B, 2, latent_dim)
        if self.training:
            x = augment(x, self.input_noise)
        z = torch.stack([enc(c) for enc, c in zip(self.encoders, x.split(self.chunk_sizes, dim=-1))], dim=1)
        z = self.norm(z)
        if self.training:
            z = augment(z, self.latent_noise)
        return z.clamp(-1, 1)

    def decode(self, z):  # (B, 2, latent_dim) -> normalized (B, P)
        return torch.cat([dec(z[:, i]) for i, dec in enumerate(self.decoders)], dim=-1)

    def forward(self, x):
        return self.decode(self.encode(x))


# ----------------------------------------------------------------------------------------------
# The HypLatent generator: hyplatent_train.py trains it, hypformer_train.py samples from it
# ----------------------------------------------------------------------------------------------
def block(i: int, o: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(i, o), nn.BatchNorm1d(o), nn.GELU(), nn.Dropout(dropout))


class Generator(nn.Module):
    """MLP U-Net (AMT-Hyp's recipe): concat(noise, condition) -> 2048 -> 1024 -> 512 -> 256, back up
    256 -> 512 -> 1024 -> 2048 with each level adding its encoder activation (skip), then a linear
    head to the flat latent (2 * latent_dim)."""

    def __init__(self, in_dim: int, out_dim: int, widths: tuple = (2048, 1024, 512, 256), dropout: float = 0.1):
        widths = list(widths)
        super().__init__()
        dims = [in_dim, *widths]
        self.down = nn.ModuleList(block(a, b, dropout) for a, b in zip(dims[:-1], dims[1:]))
        self.up = nn.ModuleList(block(a, b, dropout) for a, b in zip(widths[::-1][:-1], widths[::-1][1:]))
        self.head = nn.Linear(widths[0], out_dim)

    def forward(self, x):
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        for layer, skip in zip(self.up, skips[-2::-1]):  # 512 <- 256 (+512), 1024 (+1024), 2048 (+2048)
            x = layer(x) + skip
        return self.head(x)


# ----------------------------------------------------------------------------------------------
# What a generated policy is asked for: how a target is named, and which tau_e condition MetaWorld's policies (paper
# VII-C); HypLatent and HypFormer both train on these pairs and generate on these conditions, so their rows compare
# ----------------------------------------------------------------------------------------------
def target_name(task: Task) -> str:
    """How a zero-shot target is named in a table and its file: a task id, or its parameters (a task at parameters of
    the user's choice)."""
    if task.index is not None:
        return str(task.index)
    return "_".join(f"{n}={v:g}" for n, v in zip(SUITES[task.suite].param_names, task.params))


def embedding_rows(ae: dict, collection: dict, embedding: dict, task_ids: list) -> tuple[torch.Tensor, torch.Tensor]:
    """(ascending autoencoder row indices, tau_e (M, C)) of `task_ids`' checkpoints in the embedding's training
    split: the (tau_e, latent) pairs HypLatent and HypFormer train on. Those the embedding held out stay out
    (they condition the MTRL evaluation)."""
    # checkpoint index of each autoencoder row within its task's file (rows are tasks in order, then checkpoints)
    ckpt_of_row = [j for i in ae["train_task_ids"] for j in range(len(collection[i]["params"]))]
    rows = [
        r
        for r, (i, j) in enumerate(zip(ae["task_index"].tolist(), ckpt_of_row))
        if i in task_ids and j in embedding["train"][i]
    ]
    tau_e = torch.stack([embedding["tau_e"][ae["task_index"][r].item()][ckpt_of_row[r]] for r in rows]).float()
    return torch.tensor(rows, dtype=torch.long), tau_e


def mtrl_conditions(collection: dict, embedding: dict, seen: list, index: int, samples: int) -> list:
    """The checkpoints whose tau_e condition task `index`'s `samples` generated policies in the MTRL table, cycled: a
    seen task's checkpoints the embedding held out, an unseen task's experts (trajectories only, never training data)."""
    source = embedding["holdout"][index] if index in seen else list(range(len(collection[index]["params"])))
    return [source[n % len(source)] for n in range(samples)]


def generated_policy_file(task: Task, ckpt: dict, params: torch.Tensor, episodes: int, where: dict, args) -> dict:
    """A generator stage's policies for one target as the policy file zeroshot_eval.py scores: their deterministic
    returns on the task (`episodes` episodes, reset seeds eval_seed + e; MetaWorld: one per goal, and each policy's
    success), `where` their origin. ckpt: the HypLatent checkpoint (actor_args, layout, eval_seed)."""
    actor = load_flat_params(Actor(**ckpt["actor_args"], num_tasks=len(params)), params)
    if not task.goals:
        returns = evaluate(actor, [task] * len(params), episodes, ckpt["eval_seed"])
        return policy_file(task, ckpt["actor_args"], ckpt["layout"], params, returns, ckpt["eval_seed"], where, args)
    result = evaluate(actor, [task] * len(params), len(task.goals), ckpt["eval_seed"], behavior=True)
    return policy_file(task, ckpt["actor_args"], ckpt["layout"], params, result["returns"], ckpt["eval_seed"], where, args,
                       success=torch.as_tensor(result["success"]))  # fmt: skip


def score_policies(who: str, paths: list, table: str, data: str, args, embedding: str = "") -> dict:
    """Hands generated policy files to zeroshot_eval.py, the one place that scores them against the baselines on the
    same episodes (Table I; MetaWorld: the MTRL table), and returns its table (args: seed, ci, ci_reps). Its printed
    table reaches the terminal; its refusal becomes `who`'s one-line error. A command, not an import: the stages
    share the evaluator's file, not its code."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zeroshot_eval.py")
    command = [sys.executable, script, *paths, "--out", table, "--data", data, "--seed", str(args.seed), "--ci",
               repr(args.ci), "--ci-reps", str(args.ci_reps), *(["--embedding", embedding] if embedding else [])]  # fmt: skip
    sys.stdout.flush()
    proc = subprocess.run(command, stderr=subprocess.PIPE, text=True)
    if proc.returncode:
        raise SystemExit(f"{who}: {(proc.stderr.strip().splitlines() or ['zeroshot_eval.py failed'])[-1]}")
    return load_json(table, who, "zero-shot table")


# ----------------------------------------------------------------------------------------------
# Checks before any work: every stage refuses bad numbers and unusable paths the same way, in one line
# ----------------------------------------------------------------------------------------------
def pick_device(cuda: bool, torch_deterministic: bool = True) -> torch.device:
    """CleanRL's convention: CUDA when asked for (--cuda, the default) and present, else the CPU."""
    torch.backends.cudnn.deterministic = torch_deterministic
    return torch.device("cuda" if cuda and torch.cuda.is_available() else "cpu")


def flag(name: str) -> str:
    """An Args field as the user typed it: learning_starts -> --learning-starts."""
    return "--" + name.replace("_", "-")


SEED_MAX = 2**32 - 1  # numpy's seeds (torch takes any 64-bit integer)
FOLDER_ARGS = ("runs_dir", "logs")  # arguments that name a folder to write in


def check_args(
    who: str, args, at_least: dict = (), positive: tuple = (), non_negative: tuple = (), unit: tuple = (), coverage: tuple = ()
) -> None:
    """One-line errors for arguments out of range: `at_least` {name: minimum} for counts, `positive` for
    rates that must be > 0, `non_negative` for weights that may be 0 (off), `unit` for fractions in [0, 1],
    `coverage` for interval coverages in (0, 1). Always: every float finite, every seed (seed, *_seed, *_seeds)
    in 0..SEED_MAX, a folder argument (FOLDER_ARGS) a place where a folder can be written, and a number of episodes
    one whose returns fit in memory."""
    for name, minimum in dict(at_least).items():
        if getattr(args, name) < minimum:
            raise SystemExit(f"{who}: {flag(name)} {getattr(args, name)}: expected an integer >= {minimum}")
    for name in positive:
        if not getattr(args, name) > 0:  # also refuses nan
            raise SystemExit(f"{who}: {flag(name)} {getattr(args, name)}: expected a number > 0")
    for name in non_negative:
        if not getattr(args, name) >= 0:
            raise SystemExit(f"{who}: {flag(name)} {getattr(args, name)}: expected a number >= 0")
    for name in unit:
        if not 0 <= getattr(args, name) <= 1:
            raise SystemExit(f"{who}: {flag(name)} {getattr(args, name)}: expected a number in [0, 1]")
    for name in coverage:
        if not 0 < getattr(args, name) < 1:
            raise SystemExit(f"{who}: {flag(name)} {getattr(args, name)}: expected a coverage in (0, 1), e.g. 0.95")
    for name, value in vars(args).items():
        if isinstance(value, float) and not math.isfinite(value):
            raise SystemExit(f"{who}: {flag(name)} {value}: expected a finite number")
        if name == "seed" or name.endswith(("_seed", "_seeds")):
            for seed in value if isinstance(value, (tuple, list)) else [value]:
                if seed is not None and not 0 <= seed <= SEED_MAX:
                    raise SystemExit(f"{who}: {flag(name)} {seed}: expected a seed in 0..{SEED_MAX}")
        if name in FOLDER_ARGS:
            check_folder(who, flag(name), value)
        if name.endswith("episodes") and isinstance(value, int):  # returns (float64) of up to 1024 policies at once
            check_memory(who, flag(name), value, 8 * 1024 * value)


def check_memory(who: str, arg: str, value, nbytes: float) -> None:
    """Refuses, before any work, a size whose arrays (about `nbytes`) cannot fit in this machine's memory."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if nbytes > total:
        raise SystemExit(
            f"{who}: {arg} {value}: needs about {nbytes / 2**30:,.0f} GiB, this machine has {total / 2**30:.0f} GiB"
        )


def check_folder(who: str, arg: str, path: str, shown: str = "") -> None:
    """Refuses, before any work, a folder to write in that is a file, lies under one, or cannot be written (a
    read-only place); the folders still missing are made later. `shown` names the path in the error (default: path)."""
    folder = os.path.abspath(path)
    while not os.path.exists(folder):  # the nearest existing folder is where the missing ones will be made
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        raise SystemExit(f"{who}: {arg} {shown or path}: {folder} is a file, not a folder")
    try:  # write a probe: permission bits alone do not tell (root, read-only mounts)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".genhyper-probe-")
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise SystemExit(f"{who}: {arg} {shown or path}: cannot write in {folder} ({e.strerror})")


def check_output(who: str, arg: str, path: str, inputs: tuple = ()) -> None:
    """Refuses, before any work, an output path that is a folder, one of the stage's inputs, or in a
    place that cannot be written (a read-only folder, a file where a folder is needed)."""
    if not path or path.endswith(os.sep):
        raise SystemExit(f"{who}: {arg} {path!r}: expected a file path")
    if os.path.isdir(path):
        raise SystemExit(f"{who}: {arg} {path}: is a folder, expected a file path")
    for source in inputs:
        if os.path.realpath(source) == os.path.realpath(path):
            raise SystemExit(
                f"{who}: {arg} {path}: is one of this stage's inputs; it would be overwritten, choose another path"
            )
    check_folder(who, arg, os.path.dirname(os.path.abspath(path)), path)


def first_nonfinite(value, name: str = "") -> str | None:
    """Where the first NaN or inf in `value` is (tensors and floats, in nested dicts and lists), None if nowhere."""
    if isinstance(value, torch.Tensor):
        return name if value.is_floating_point() and not torch.isfinite(value).all() else None
    if isinstance(value, float):
        return None if math.isfinite(value) else name
    if isinstance(value, dict):
        found = (first_nonfinite(item, f"{name}.{key}" if name else str(key)) for key, item in value.items())
    elif isinstance(value, (list, tuple)):
        found = (first_nonfinite(item, name) for item in value)
    else:
        return None
    return next((where for where in found if where is not None), None)


def check_finite(who: str, path: str, value, name: str = "") -> None:
    """Refuses NaN or inf anywhere in the tensors of `value` (nested dicts and lists too)."""
    where = first_nonfinite(value, name)
    if where is not None:
        raise SystemExit(f"{who}: {path}: {where} holds NaN or inf values")


# ----------------------------------------------------------------------------------------------
# Artifacts: plain dicts of tensors and plain values, written atomically, read without pickled code;
# every stage writes and reads them, so writing and checking them is one code
# ----------------------------------------------------------------------------------------------
def write_atomic(path: str, write, who: str = "genhyper") -> None:
    """`write(tmp)` writes the file to `path.<pid>.tmp`, then it is renamed: a crash never leaves a half-written
    `path`. A failed write (full disk, permission) is one line naming the file, and leaves no `.tmp`."""
    tmp = f"{path}.{os.getpid()}.tmp"  # one per process: two runs writing one path never share a temporary file
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        write(tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:  # torch.save reports a full disk as a RuntimeError
        if os.path.isfile(tmp) or os.path.islink(tmp):
            os.remove(tmp)
        if isinstance(e, OSError):
            reason = e.strerror or str(e)
        else:
            free = shutil.disk_usage(os.path.dirname(os.path.abspath(tmp))).free
            reason = f"the write failed; {free / 2**20:.0f} MiB free on its disk"
        raise SystemExit(f"{who}: {path}: could not write it ({reason}); nothing was written")


def claim_output(who: str, arg: str, path: str) -> None:
    """Refuses to start a run whose output another live run is writing (the same --out twice): the claim is
    <path>.lock holding this process's id, dropped when the process ends; one left by a killed run is taken over."""
    lock = f"{path}.lock"
    os.makedirs(os.path.dirname(os.path.abspath(lock)), exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                with open(lock) as f:
                    pid = int(f.read().strip() or -1)
                if pid != os.getpid():
                    try:
                        os.kill(pid, 0)  # raises ProcessLookupError when that run is gone
                    except PermissionError:
                        pass  # alive, another user's
                    raise SystemExit(f"{who}: {arg} {path}: another run (process {pid}) is writing it; wait or stop it")
                return  # this process claimed it already (a second main() in one process)
            except (ProcessLookupError, ValueError, FileNotFoundError):
                if os.path.exists(lock):
                    os.remove(lock)  # a killed run's claim
                continue
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        atexit.register(lambda: os.path.exists(lock) and os.remove(lock))
        return


def write_text_atomic(path: str, text: str, who: str = "genhyper") -> None:
    """A text file (JSON, a markdown table), atomically (write_atomic)."""

    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)

    write_atomic(path, write, who)


def load_json(path: str, who: str, what: str):
    """A JSON file another stage wrote (a table), or a one-line error naming it; strict, as written (no bare NaN)."""

    def refuse(constant: str):
        raise ValueError(f"holds a bare {constant}")

    try:
        with open(path) as f:
            return json.load(f, parse_constant=refuse)
    except (OSError, ValueError) as e:
        detail = str(e) if str(e).startswith("holds a bare") else type(e).__name__
        raise SystemExit(f"{who}: {path}: not a readable {what} ({detail})")


def write_json_atomic(path: str, obj, who: str = "genhyper") -> None:
    """Strict JSON (no bare NaN or Infinity: non-finite numbers become null), atomically."""

    def strict(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: strict(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [strict(v) for v in x]
        return x

    write_text_atomic(path, json.dumps(strict(obj), indent=1, allow_nan=False), who)


def save_atomic(obj: dict, path: str, who: str = "genhyper") -> None:
    """torch.save of an artifact dict, atomically (write_atomic); one holding NaN or inf is refused, not written."""
    where = first_nonfinite(obj)
    if where is not None:
        raise SystemExit(f"{who}: {path}: {where} holds NaN or inf values; not written (a file there stays as it was)")
    write_atomic(path, lambda tmp: torch.save(obj, tmp), who)


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


# ----------------------------------------------------------------------------------------------
# The policy file: one format for every policy a stage hands on (expert checkpoints, generated
# policies, fine-tuned actors), so "start from a policy" is one code path whatever made it
# ----------------------------------------------------------------------------------------------
POLICIES = "policies"
POLICY_FIELDS = ("task", "actor_args", "layout", "params", "returns", "episode_returns", "eval_seed", "origin")


def policy_file(
    task: Task, actor_args: dict, layout: list, params, episode_returns, eval_seed: int, origin: dict, args, **extra
) -> dict:
    """The policy artifact: N policies of one actor layout for one task, each with its evaluated returns.

    params (N, P) float32 in `layout` order (rebuild with Actor(**actor_args) and load_flat_params);
    episode_returns (N, episodes) from deterministic episodes with reset seeds eval_seed + e on `task`;
    origin {"stage": which script made them, ...plain values saying how}. `extra` adds stage fields
    (a collection's checkpoint `steps`, a fine-tuning run's `curve`).
    """
    episode_returns = torch.as_tensor(episode_returns, dtype=torch.float32)
    return {
        "kind": POLICIES,
        "version": 1,
        "task": task.to_dict(),
        "actor_args": actor_args,
        "layout": layout,
        "params": torch.as_tensor(params, dtype=torch.float32).clone(),
        "returns": episode_returns.mean(1),
        "episode_returns": episode_returns.clone(),
        "eval_seed": eval_seed,
        "origin": origin,
        "args": vars(args),
        **extra,
    }


def load_policies(path: str, who: str) -> dict:
    """A policy file, checked: known task, a layout that fits its parameters, finite parameters and
    returns, and a file named task_XX.pt holding task XX."""
    data = load_artifact(path, POLICIES, POLICY_FIELDS, who=who)
    task = data["task"]
    if not isinstance(task, dict) or task.get("suite") not in SUITES or "index" not in task or "params" not in task:
        raise SystemExit(f"{who}: {path}: its task {task!r} is not a task of a known suite")
    if task["index"] is None:  # a task at parameters of the user's choice: they must lie in the suite's range
        task_at(task["suite"], tuple(task["params"]), f"{who}: {path}: task parameters")
    elif list(task["params"]) != list(get_task(task["suite"], task["index"]).params):
        raise SystemExit(
            f"{who}: {path}: task {task['index']} of {task['suite']} has other MDP parameters than {task['params']}"
        )
    match = re.fullmatch(r"task_(\d+)\.pt", os.path.basename(path))
    if match and int(match.group(1)) != task["index"]:
        raise SystemExit(f"{who}: {path}: the file is named for task {int(match.group(1))} but holds task {task['index']}")
    size = sum(math.prod(shape) for _, shape in data["layout"])
    params, returns, episodes = data["params"], data["returns"], data["episode_returns"]
    if params.dim() != 2 or params.shape[1] != size or len(params) == 0:
        raise SystemExit(f"{who}: {path}: params have shape {list(params.shape)}, its layout needs (N >= 1, {size})")
    if returns.shape != (len(params),) or episodes.dim() != 2 or len(episodes) != len(params):
        raise SystemExit(
            f"{who}: {path}: returns {list(returns.shape)} / episode_returns {list(episodes.shape)} "
            f"do not match its {len(params)} policies"
        )
    for name in ("params", "returns", "episode_returns", "success", "trajectory", "success_states"):  # MetaWorld's too
        check_finite(who, path, data.get(name), name)
    return data


def load_start_policy(path: str, index: int, suite: str, who: str, arg: str, index_arg: str) -> tuple[dict, int]:
    """The policy file a stage starts an actor from, checked against --suite, and which of its policies:
    `index`, or its best stored return when -1. `arg` and `index_arg` name the flags in the errors."""
    source = load_policies(path, who)
    if source["task"]["suite"] != suite:
        raise SystemExit(f"{who}: {arg} {path}: is for suite {source['task']['suite']!r}, not --suite {suite!r}")
    n = len(source["params"])
    if not -1 <= index < n:
        raise SystemExit(f"{who}: {index_arg} {index}: {path} holds {n} policies (0..{n - 1}, or -1: best)")
    return source, int(source["returns"].argmax()) if index == -1 else index


def params_digest(params: list) -> str:
    """SHA-1 of policy parameters, in order: a later stage checks it reads the checkpoints an earlier one was trained on."""
    digest = hashlib.sha1()
    for p in params:
        digest.update(p.contiguous().numpy().tobytes())
    return digest.hexdigest()


def collection_files(folder: str) -> list:
    """The task files load_collection reads, as paths (the inputs an output must not overwrite)."""
    names = sorted(n for n in os.listdir(folder) if re.fullmatch(r"task_\d+\.pt", n)) if os.path.isdir(folder) else []
    return [os.path.join(folder, n) for n in names]


def load_collection(folder: str, who: str, arg: str = "--data") -> dict:
    """{task index: policy file} for every task_XX.pt in `folder`; one suite, one actor layout."""
    paths = collection_files(folder)
    if not paths:
        raise SystemExit(f"{who}: {arg} {folder}: no task files (task_XX.pt from sac_collect.py) found")
    collection, first = {}, None
    for path in paths:
        data = load_policies(path, who)
        if first is None:
            first = (path, data)
        elif data["task"]["suite"] != first[1]["task"]["suite"]:
            raise SystemExit(
                f"{who}: {arg} {folder}: mixes suites ({path} is {data['task']['suite']!r}, "
                f"{first[0]} is {first[1]['task']['suite']!r})"
            )
        elif data["layout"] != first[1]["layout"] or data["actor_args"] != first[1]["actor_args"]:
            raise SystemExit(f"{who}: {arg} {folder}: mixes actor layouts ({path} differs from {first[0]})")
        if data["task"]["index"] in collection:
            raise SystemExit(f"{who}: {arg} {folder}: holds task {data['task']['index']} twice")
        collection[data["task"]["index"]] = data
    return collection


# ----------------------------------------------------------------------------------------------
# Resumable training: a killed run started again with the same arguments and inputs continues where
# it stopped; every training stage resumes by the same rules
# ----------------------------------------------------------------------------------------------
PLUMBING_ARGS = ("log_every", "state_every", "runs_dir", "env_workers", "eval_workers")  # a resumed run may change these


def fingerprint(paths) -> dict:
    """{absolute path: [size, mtime_ns]} of input files: a resume state made from other inputs is refused."""
    return {os.path.abspath(p): [os.stat(p).st_size, os.stat(p).st_mtime_ns] for p in paths}


def stop_if_diverged(who: str, step: int, values: dict, path: str) -> None:
    """Stops a run whose `values` (losses, a state) hold NaN or inf, in one line naming the step; the resume state
    at `path`, saved earlier from finite values, stays."""
    where = first_nonfinite(values)
    if where is not None:
        kept = f"{path} keeps the last finite state" if os.path.exists(path) else "no resume state was saved before"
        raise SystemExit(f"{who}: step {step}: {where} is NaN or inf, training diverged; stopped ({kept})")


def save_training_state(path: str, args, step: int, stateful: dict, inputs: dict, who: str, **extra) -> None:
    """Atomically saves every object's state_dict(), the RNG, the inputs' fingerprint, `extra` values and the step.
    A state holding NaN or inf (training diverged) stops the run instead; the last state saved stays on disk."""
    state = {name: obj.state_dict() for name, obj in stateful.items()}
    stop_if_diverged(who, step, {**state, **extra}, path)
    head = {"kind": "training_state", "version": 1, "args": vars(args), "inputs": inputs, "step": step}
    state = {**head, "rng": torch.get_rng_state(), **state, **extra}  # checked above: write_atomic, not a second scan
    write_atomic(path, lambda tmp: torch.save(state, tmp), who)


def resume_training_state(path: str, args, stateful: dict, inputs: dict, who: str, extra: tuple = ()) -> dict | None:
    """Loads a state saved by the same arguments from the same inputs into the objects and the RNG; None when there is
    none. `extra`: the fields of save_training_state's `extra` the stage needs back (a state without them is refused)."""
    if not os.path.exists(path):
        return None
    state = load_artifact(path, "training_state", ("args", "inputs", "step", "rng", *stateful), who=who)
    missing = [k for k in extra if k not in state]
    if missing:
        raise SystemExit(f"{who}: {path}: resume state of an older version (no {', '.join(missing)}); delete it to start over")
    current = vars(args)
    # a flag added after the state was saved does not block it while the flag keeps its default
    defaults = {f.name: f.default for f in dataclasses.fields(args)} if dataclasses.is_dataclass(args) else {}
    saved = {**{k: v for k, v in defaults.items() if k not in state["args"]}, **state["args"]}
    changed = sorted(k for k in set(saved) | set(current) if k not in PLUMBING_ARGS and saved.get(k) != current.get(k))
    if changed:
        raise SystemExit(
            f"{who}: {path}: resume state from other arguments ({', '.join(changed)}); "
            "rerun with the same arguments or delete it"
        )
    moved = sorted(set(state["inputs"]) ^ set(inputs))
    edited = sorted(p for p in set(state["inputs"]) & set(inputs) if list(state["inputs"][p]) != list(inputs[p]))
    if moved or edited:
        raise SystemExit(
            f"{who}: {path}: resume state made from other inputs ({', '.join(moved + edited)} changed); "
            "restore them or delete the state"
        )
    for name, obj in stateful.items():
        obj.load_state_dict(state[name])
    torch.set_rng_state(state["rng"])
    print(f"{who}: resuming from {path} at step {state['step']}")
    return state
