# GenHyper stage 4 (MetaWorld): HypFormer (paper V-B, eqs. 8-11). A one-layer transformer reads L latent policies
# that the frozen HypLatent generator samples for a behaviour embedding tau_e, together with tau_e and a learned
# [cls] token, and pulls them toward the expert's latent: a latent head predicts Z_gt, a residue head what the
# latent head still misses; their sum is the refined latent that the HypLatent decoder turns into a policy.
# Reads: a HypLatent checkpoint trained with --condition behavior, its autoencoder (Z_gt = encoder latents),
# embedding and collection. Writes: the HypFormer checkpoint; the MTRL table with HypFormer beside HypLatent alone,
# retrieval and random (<out>_mtrl.json); the policies it generates per task (<out>_generated/task_XX.pt); the
# PCA figure of paper Fig. 7 (<out>_pca.png).
#   python hypformer_train.py --hyplatent artifacts/hyplatent_mw.pt --ae artifacts/ae_mw.pt --out artifacts/hypformer.pt
#   python hypformer_train.py --out artifacts/hypformer.pt --eval-only --table artifacts/again.json   # a saved checkpoint
import os
import time
from dataclasses import dataclass

import matplotlib
import torch
import torch.nn as nn
import torch.nn.functional as F
import tyro
from torch.utils.tensorboard import SummaryWriter

from common import (
    Generator,
    ParamAutoencoder,
    Task,
    check_args,
    check_finite,
    check_memory,
    check_output,
    claim_output,
    collection_files,
    embedding_rows,
    fingerprint,
    generated_policy_file,
    get_suite,
    load_artifact,
    load_collection,
    mtrl_conditions,
    params_digest,
    pick_device,
    resume_training_state,
    save_atomic,
    save_training_state,
    score_policies,
    write_atomic,
    write_json_atomic,
)

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

KIND = "hypformer"
WHO = "hypformer_train"


@dataclass
class Args:
    hyplatent: str = ""
    """HypLatent checkpoint trained with --condition behavior (its generator is frozen here, its decoder decodes);
    with --eval-only, empty reads the one the HypFormer checkpoint was trained on"""
    ae: str = ""
    """autoencoder whose latents are the targets Z_gt (empty: the one the HypLatent checkpoint was trained from)"""
    embedding: str = ""
    """behaviour embedding (empty: the one the HypLatent checkpoint was trained with)"""
    data: str = ""
    """MetaWorld collection folder (empty: the one the HypLatent checkpoint was trained on)"""
    out: str = "artifacts/hypformer.pt"
    """where the HypFormer checkpoint is written (and, with --eval-only, read)"""
    eval_only: bool = False
    """skip training: evaluate the checkpoint at --out (its model sizes; the evaluation flags below apply)"""
    table: str = ""
    """where the MTRL table goes, its policies in <table>_generated/ and the PCA figure in <table>_pca.png (empty:
    <out>_mtrl.json, <out>_generated/, <out>_pca.png)"""
    num_samples: int | None = None
    """L, generator samples per tau_e, i.e. latent tokens (default 8, the paper's; with --eval-only, the checkpoint's)"""
    d_model: int = 256
    """token width"""
    nhead: int = 128
    """attention heads (paper: 128, head dim 2)"""
    mlp_hidden: int = 512
    """width of the shared MLP and of the two heads"""
    dropout: float = 0.2
    """dropout of the attention layer and of the heads (paper: 0.2)"""
    iterations: int = 3000
    """training steps, each on --batch-size (tau_e, Z_gt) pairs with fresh generator samples"""
    batch_size: int = 128
    """pairs per step"""
    lr: float = 2e-4
    """Adam learning rate (AMT-Hyp)"""
    weight_decay: float = 1e-5
    """Adam weight decay (AMT-Hyp)"""
    lambda_sim: float = 1e3
    """weight of L_sim, eq. (8)"""
    lambda_res: float = 1e3
    """weight of L_res, eq. (9)"""
    lambda_c: float = 1e3
    """weight of L_c, eq. (10)"""
    seed: int | None = None
    """seed of initialization, batches and noise (default 0; with --eval-only, the checkpoint's, so that its table is
    reproduced)"""
    eval_samples: int = 100
    """MTRL: policies per task, each on a held-out tau_e (paper: 100)"""
    pca_tasks: tuple[str, ...] = ("button-press", "dial-turn", "door-open")
    """seen tasks of the PCA figure (paper Fig. 7); those not collected are left out"""
    ci: float = 0.95
    """coverage of the bootstrap confidence intervals"""
    ci_reps: int = 5000
    """bootstrap resamples per interval"""
    log_every: int = 250
    """steps between progress lines"""
    state_every: int = 250
    """steps between saves of the resume state (<out>.state.pt)"""
    runs_dir: str = "runs"
    """tensorboard log root"""
    cuda: bool = True
    """use CUDA when it is available (CleanRL's flag); artifacts are always written with CPU tensors"""
    torch_deterministic: bool = True
    """torch.backends.cudnn.deterministic (CleanRL's flag)"""


# ----------------------------------------------------------------------------------------------
# Model: [cls, L generated latents, tau_e] -> one self-attention layer -> shared MLP -> latent and residue heads
# ----------------------------------------------------------------------------------------------
def head(width: int, out_dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Dropout(dropout), nn.Linear(width, out_dim))


class HypFormer(nn.Module):
    """Tokens: a learned [cls], the L generated latents and tau_e, each projected to d_model; no positional encoding
    (the L samples are a set). Attention runs within each example (batch_first=True: AMT-Hyp's code omitted it, so
    its attention mixed the examples of a batch). Both heads are averaged over all tokens (paper V-B)."""

    def __init__(self, latent_dim: int, cond_dim: int, d_model: int = 256, nhead: int = 128, mlp_hidden: int = 512,
                 dropout: float = 0.2):  # fmt: skip
        super().__init__()
        self.cls = nn.Parameter(torch.randn(1, 1, d_model) * 0.02)
        self.latent_in = nn.Linear(latent_dim, d_model)
        self.cond_in = nn.Linear(cond_dim, d_model)
        self.attention = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=mlp_hidden, dropout=dropout,
                                                    batch_first=True)  # fmt: skip
        self.shared = nn.Sequential(nn.Linear(d_model, mlp_hidden), nn.GELU())
        self.latent_head = head(mlp_hidden, latent_dim, dropout)
        self.residue_head = head(mlp_hidden, latent_dim, dropout)

    def forward(self, samples: torch.Tensor, tau_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """samples (B, L, latent_dim), tau_e (B, cond_dim) -> Z_pred (B, latent_dim), residue_pred (B, latent_dim)."""
        tokens = torch.cat([self.cls.expand(len(samples), -1, -1), self.latent_in(samples), self.cond_in(tau_e)[:, None]], 1)
        h = self.shared(self.attention(tokens))
        return self.latent_head(h).mean(1), self.residue_head(h).mean(1)


def losses(z_pred: torch.Tensor, residue_pred: torch.Tensor, z_gt: torch.Tensor) -> dict:
    """Eqs. (8)-(10). L_sim = mean(1 - cos(Z_pred, Z_gt)): torch's cosine, x.y / max(|x| |y|, eps) (the paper prints
    the max of the two norms, which is not a cosine). The target residue is what eq. (9) needs for eq. (10) to hold,
    Z_gt - Z_pred (held fixed); AMT-Hyp's code used mean_j (Z_gt - Z_j) over the L samples instead, which does not
    make Z_pred + residue equal Z_gt. With this target L_res and L_c have the same value and differ in their gradients:
    L_res trains the residue head alone, L_c both heads."""
    residue_gt = (z_gt - z_pred).detach()
    return {
        "sim": (1 - F.cosine_similarity(z_pred, z_gt, dim=-1)).mean(),
        "res": F.mse_loss(residue_pred, residue_gt),
        "c": F.mse_loss(z_pred + residue_pred, z_gt),
    }


# ----------------------------------------------------------------------------------------------
# Inputs: the HypLatent checkpoint, its autoencoder, embedding and collection, checked before any training
# ----------------------------------------------------------------------------------------------
def policy_folder(args: Args) -> str:
    """Where the policies generated with HypFormer go: beside a named --table, else beside --out."""
    return f"{os.path.splitext(args.table or args.out)[0]}_generated"


def outputs_of(args: Args, task_ids: list = ()) -> dict:
    """Every file this run writes, by what it is: per target task its policies with HypFormer (<stem>_generated/) and
    without (<stem>_generated_without_hypformer/); a named --table keeps them and the figure beside it, and
    --eval-only leaves the checkpoint alone."""
    stem = os.path.splitext(args.table or args.out)[0]
    files = {"table": args.table or f"{stem}_mtrl.json", "figure": f"{stem}_pca.png"}
    for i in task_ids:
        files[f"w/ HypFormer {i}"] = os.path.join(policy_folder(args), f"task_{i:02d}.pt")
        files[f"w/o HypFormer {i}"] = os.path.join(f"{policy_folder(args)}_without_hypformer", f"task_{i:02d}.pt")
    return files if args.eval_only else {"checkpoint": args.out, "state": f"{args.out}.state.pt", **files}


def mtrl_targets(hyplatent: dict, collection: dict) -> list:
    """The MTRL table's tasks: the seen tasks the generator trained on, then the unseen ones that were collected."""
    return hyplatent["train_task_ids"] + [i for i in sorted(collection) if i in get_suite("metaworld").test_ids]


def validate(args: Args) -> tuple[dict, dict, dict, dict, dict | None]:
    """One-line errors; returns the HypLatent checkpoint, the autoencoder, the embedding, the collection and, with
    --eval-only, the HypFormer checkpoint at --out (else None)."""
    saved = None
    if args.eval_only:  # the checkpoint's own choices fill what the command line leaves open, before anything is checked
        saved = load_artifact(args.out, KIND, ("model_args", "state_dict", "hyplatent", "num_samples", "args"), who=WHO)
        check_finite(WHO, args.out, saved["state_dict"], "state_dict")
        args.hyplatent = args.hyplatent or saved["hyplatent"]
        for name in ("ae", "embedding", "data"):  # absolute paths; a checkpoint older than them has its command's
            setattr(args, name, getattr(args, name) or saved.get(name) or saved["args"][name])
    if args.num_samples is None:
        args.num_samples = saved["num_samples"] if saved else 8
    if args.seed is None:
        args.seed = saved["args"]["seed"] if saved else 0
    if not args.hyplatent:
        raise SystemExit(
            f"{WHO}: --hyplatent: name the HypLatent checkpoint to refine (hyplatent_train.py --condition behavior)"
        )
    if args.table and not args.table.endswith(".json"):
        raise SystemExit(f"{WHO}: --table {args.table}: expected a path ending in .json")
    check_args(
        WHO,
        args,
        at_least={**dict.fromkeys(("num_samples", "d_model", "nhead", "mlp_hidden", "iterations", "eval_samples"), 1),
                  **dict.fromkeys(("log_every", "state_every"), 1), "batch_size": 1, "ci_reps": 100},
        positive=("lr",),
        non_negative=("weight_decay", "lambda_sim", "lambda_res", "lambda_c"),
        unit=("dropout",),
        coverage=("ci",),
    )  # fmt: skip
    if args.d_model % args.nhead:
        raise SystemExit(f"{WHO}: --nhead {args.nhead}: must divide --d-model {args.d_model}")
    hyplatent = load_artifact(args.hyplatent, "hyplatent", ("generator", "decoder", "condition", "train_task_ids"), who=WHO)
    if hyplatent["condition"] != "behavior":
        raise SystemExit(
            f"{WHO}: --hyplatent {args.hyplatent}: conditioned on {hyplatent['condition']!r}; HypFormer refines a "
            "behaviour-conditioned HypLatent (hyplatent_train.py --condition behavior)"
        )
    ae_path, embedding_path, data = source_paths(args, hyplatent)
    if not ae_path:
        raise SystemExit(f"{WHO}: --ae: name the autoencoder {args.hyplatent} was trained from")
    ae = load_artifact(ae_path, "autoencoder", ("latents", "task_index", "train_task_ids", "params_digest"), who=WHO)
    if ae["params_digest"] != hyplatent["params_digest"]:
        raise SystemExit(f"{WHO}: --ae {ae_path}: not the autoencoder {args.hyplatent} was trained from")
    check_finite(WHO, ae_path, ae["latents"], "latents")
    collection = load_collection(data, WHO, "--data" if args.data else f"--data (from {args.hyplatent})")
    embedding = load_artifact(embedding_path, "behavior_embedding", ("tau_e", "train", "holdout", "params_digest"), who=WHO)
    if params_digest([collection[i]["params"] for i in sorted(collection)]) != embedding["params_digest"]:
        raise SystemExit(f"{WHO}: --embedding {embedding_path}: its checkpoints do not match the collection --data {data}")
    check_finite(WHO, embedding_path, embedding["tau_e"], "tau_e")
    check_finite(WHO, args.hyplatent, {"generator": hyplatent["generator"], "decoder": hyplatent["decoder"]})
    cond_dim = hyplatent["generator_args"]["in_dim"] - hyplatent["noise_dim"]  # the tau_e width it was trained on
    if {t.shape[-1] for t in embedding["tau_e"].values()} != {cond_dim}:
        raise SystemExit(f"{WHO}: --embedding {embedding_path}: tau_e of other widths than the {cond_dim} "
                         f"--hyplatent {args.hyplatent} was trained on")  # fmt: skip
    if saved and (saved["model_args"]["latent_dim"], saved["model_args"]["cond_dim"]) != (
        ae["latents"][0].numel(),
        embedding["tau_e"][hyplatent["train_task_ids"][0]].shape[-1],
    ):
        raise SystemExit(
            f"{WHO}: --out {args.out}: a HypFormer of other latent or tau_e sizes than --hyplatent {args.hyplatent}"
        )
    inputs = [args.hyplatent, ae_path, embedding_path, *collection_files(data), *([args.out] if saved else [])]
    for name, path in outputs_of(args, mtrl_targets(hyplatent, collection)).items():
        check_output(WHO, f"--out ({name})", path, inputs)
    # sizes that must fit in memory: the model's weights (with gradients and Adam's moments), L generator samples per
    # tau_e in a batch (and in an evaluation) through its activations, an evaluation's decoded policies, the bootstrap
    latent, num_params = ae["latents"][0].numel(), next(iter(collection.values()))["params"].shape[1]
    d, m = args.d_model, args.mlp_hidden
    check_memory(WHO, "--d-model", f"{d} (with --mlp-hidden {m})", 16 * (d * (2 * latent + cond_dim + 4 * d + 2 * m)))
    rows = max(args.batch_size, args.eval_samples)
    check_memory(WHO, "--num-samples", args.num_samples, 4 * args.num_samples * rows * (latent + 8 * args.d_model))
    check_memory(WHO, "--eval-samples", args.eval_samples, 16 * args.eval_samples * (num_params + latent))
    check_memory(WHO, "--ci-reps", args.ci_reps, 16 * args.ci_reps * args.eval_samples * 2)
    # a training run writes its checkpoint, an evaluation its policies (zeroshot_eval.py claims the table it writes)
    claim_output(WHO, "--table" if args.eval_only else "--out", policy_folder(args) if args.eval_only else args.out)
    return hyplatent, ae, embedding, collection, saved


# ----------------------------------------------------------------------------------------------
# Sampling: the frozen HypLatent generator, and HypFormer on top of it
# ----------------------------------------------------------------------------------------------
def frozen_models(hyplatent: dict) -> tuple[Generator, ParamAutoencoder]:
    generator = Generator(**hyplatent["generator_args"])
    generator.load_state_dict(hyplatent["generator"])
    decoder = ParamAutoencoder(**hyplatent["decoder_args"])
    decoder.load_state_dict(hyplatent["decoder"])
    for p in [*generator.parameters(), *decoder.parameters()]:
        p.requires_grad_(False)
    return generator.eval(), decoder.eval()


def sample_latents(generator: Generator, noise_dim: int, tau_e: torch.Tensor, num: int, gen=None) -> torch.Tensor:
    """(B, num, latent_dim): num generator samples for each of the B tau_e."""
    b = len(tau_e)
    noise = torch.randn(b * num, noise_dim, generator=gen).to(tau_e.device)
    return generator(torch.cat([noise, tau_e.repeat_interleave(num, 0)], -1)).view(b, num, -1)


# ----------------------------------------------------------------------------------------------
# Training: eq. (11) on the seen tasks' training checkpoints (the checkpoints the embedding held out stay out)
# ----------------------------------------------------------------------------------------------
def source_paths(args: Args, hyplatent: dict) -> tuple[str, str, str]:
    """The autoencoder, embedding and collection read: the arguments, or those the HypLatent checkpoint names."""
    return args.ae or hyplatent.get("ae", ""), args.embedding or hyplatent["embedding"], args.data or hyplatent["data"]


def ground_truth_latents(hyplatent: dict, ae: dict) -> torch.Tensor:
    """Z_gt of every autoencoder row: the autoencoder's latents, or those of the encoder HypLatent moved (--train-encoder)."""
    return hyplatent["latents"] if hyplatent.get("train_encoder") else ae["latents"]


def train(args: Args, hyplatent: dict, ae: dict, collection: dict, embedding: dict) -> tuple[HypFormer, dict]:
    seen = hyplatent["train_task_ids"]
    rows, tau_all = embedding_rows(ae, collection, embedding, seen)  # (tau_e, Z_gt) pairs of the seen tasks
    z_all = ground_truth_latents(hyplatent, ae)[rows].flatten(1).float()
    torch.manual_seed(args.seed)
    model_args = {"latent_dim": z_all.shape[1], "cond_dim": tau_all.shape[1], "d_model": args.d_model, "nhead": args.nhead,
                  "mlp_hidden": args.mlp_hidden, "dropout": args.dropout}  # fmt: skip
    model = HypFormer(**model_args)
    generator, _ = frozen_models(hyplatent)
    device = pick_device(args.cuda, args.torch_deterministic)
    model.to(device)
    generator.to(device)
    tau_all, z_all = tau_all.to(device), z_all.to(device)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=args.lr, betas=(0.5, 0.999), weight_decay=args.weight_decay, fused=True
    )
    stateful = {"model": model, "optimizer": optimizer}
    state_path = outputs_of(args)["state"]
    inputs = fingerprint([args.hyplatent, *source_paths(args, hyplatent)[:2]])
    state = resume_training_state(state_path, args, stateful, inputs, WHO)
    start, run_name = (
        (state["step"], state["run_name"]) if state else (0, f"metaworld__hypformer__{args.seed}__{time.time_ns()}")
    )
    writer = SummaryWriter(os.path.join(args.runs_dir, run_name), purge_step=start or None)
    print(f"{WHO}: {len(seen)} seen tasks, {len(z_all)} (tau_e, Z_gt) pairs, L = {args.num_samples} generator samples each")
    weights = {"sim": args.lambda_sim, "res": args.lambda_res, "c": args.lambda_c}
    t0 = time.time()
    for it in range(start + 1, args.iterations + 1):
        idx = torch.randint(0, len(z_all), (args.batch_size,)).to(device)
        # fresh samples every step (not a stored bank): HypFormer must refine any draw of the generator, not memorize some
        with torch.no_grad():
            samples = sample_latents(generator, hyplatent["noise_dim"], tau_all[idx], args.num_samples)
        # --- ALGO: eq. (11) = lambda_sim L_sim (8) + lambda_res L_res (9) + lambda_c L_c (10) ---
        z_pred, residue_pred = model(samples, tau_all[idx])
        terms = losses(z_pred, residue_pred, z_all[idx])
        loss = sum(weights[k] * v for k, v in terms.items())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if it % 10 == 0:
            for k, v in terms.items():
                writer.add_scalar(f"losses/{k}", v.item(), it)
        if it % args.state_every == 0 and it < args.iterations:
            save_training_state(state_path, args, it, stateful, inputs, WHO, run_name=run_name)
        if it % args.log_every == 0 or it == args.iterations:
            ips = (it - start) / (time.time() - t0)
            parts = " ".join(f"L_{k} {v.item():.2e}" for k, v in terms.items())
            print(f"iter {it}/{args.iterations} | {parts} | {ips:.1f} it/s | ETA {(args.iterations - it) / ips / 60:.1f} min",
                  flush=True)  # fmt: skip
    writer.close()
    if os.path.exists(state_path):
        os.remove(state_path)
    return model.cpu().eval(), model_args


@torch.no_grad()
def refine(model: HypFormer, generator: Generator, hyplatent: dict, tau_e: torch.Tensor, num_samples: int, seed: int):
    """(n, latent_dim) refined latents Z_pred + residue_pred (eq. 10's target) for n tau_e, from fresh samples."""
    gen = torch.Generator().manual_seed(seed)
    z_pred, residue_pred = model(sample_latents(generator, hyplatent["noise_dim"], tau_e, num_samples, gen), tau_e)
    return z_pred + residue_pred


# ----------------------------------------------------------------------------------------------
# Evaluation: the PCA figure (paper Fig. 7); the MTRL table, with and without HypFormer, in main
# ----------------------------------------------------------------------------------------------
def pca_figure(path: str, model, generator, hyplatent, ae, collection, embedding, args: Args) -> list:
    """Per task, 2-D PCA of the ground-truth latents (blue) with HypLatent's samples (left, red) and HypFormer's
    refined latents (right, red), all for the task's held-out tau_e; returns the tasks drawn."""
    names = [Task.from_dict(collection[i]["task"]).name for i in hyplatent["train_task_ids"]]
    tasks = [hyplatent["train_task_ids"][names.index(n)] for n in args.pca_tasks if n in names]
    if not tasks:
        return []
    torch.manual_seed(args.seed)  # torch.pca_lowrank draws a random projection: the figure follows the seed alone
    fig, axes = plt.subplots(len(tasks), 2, figsize=(8, 3.6 * len(tasks)), squeeze=False, sharex="row", sharey="row")
    for row, i in enumerate(tasks):
        truth = ground_truth_latents(hyplatent, ae)[ae["task_index"] == i].flatten(1).float()
        tau = embedding["tau_e"][i][embedding["holdout"][i]].float()
        tau = tau[torch.arange(args.eval_samples) % len(tau)]
        gen = torch.Generator().manual_seed(args.seed + i)
        with torch.no_grad():
            plain = sample_latents(generator, hyplatent["noise_dim"], tau, 1, gen)[:, 0]
        refined = refine(model, generator, hyplatent, tau, args.num_samples, args.seed + i)
        everything = torch.cat([truth, plain, refined])
        mean = everything.mean(0)
        _, _, v = torch.pca_lowrank(everything - mean, q=2, center=False)
        for col, (label, points) in enumerate((("HypLatent", plain), ("HypFormer", refined))):
            ax = axes[row, col]
            for pts, color, what in ((truth, "tab:blue", "ground truth"), (points, "tab:red", label)):
                xy = ((pts - mean) @ v).numpy()
                ax.scatter(xy[:, 0], xy[:, 1], s=8, c=color, alpha=0.6, label=what)
            ax.set_title(f"{collection[i]['task']['name']}: {label}")
            ax.legend(fontsize=7)
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"), WHO)
    plt.close(fig)
    return tasks


def main(args: Args) -> dict:
    # --- load and validate inputs and outputs (one-line errors, nothing trained yet) ---
    hyplatent, ae, embedding, collection, saved = validate(args)

    # --- ALGO: train HypFormer on the frozen generator's samples (eq. 11), then save atomically (--eval-only: load it) ---
    seen, task_ids = hyplatent["train_task_ids"], mtrl_targets(hyplatent, collection)
    files = outputs_of(args, task_ids)
    if saved:
        model = HypFormer(**saved["model_args"])
        model.load_state_dict(saved["state_dict"])
        model.eval()
    else:
        model, model_args = train(args, hyplatent, ae, collection, embedding)
        sources = dict(zip(("ae", "embedding", "data"), map(os.path.abspath, source_paths(args, hyplatent))))
        ckpt = {"kind": KIND, "version": 1, "model_args": model_args, "state_dict": model.state_dict(),
                "hyplatent": os.path.abspath(args.hyplatent), **sources, "num_samples": args.num_samples,
                "step": args.iterations, "args": vars(args)}  # fmt: skip
        save_atomic(ckpt, files["checkpoint"], WHO)

    # --- MTRL table: the same conditions, noise seeds and goals for HypLatent alone and with HypFormer ---
    generator, decoder = frozen_models(hyplatent)

    def decode(z: torch.Tensor) -> torch.Tensor:
        return decoder.denormalize(decoder.decode(z.view(len(z), 2, -1)))

    def plain(condition: torch.Tensor, seed: int) -> torch.Tensor:
        with torch.no_grad():
            return decode(
                sample_latents(generator, hyplatent["noise_dim"], condition, 1, torch.Generator().manual_seed(seed))[:, 0]
            )

    def with_hypformer(condition: torch.Tensor, seed: int) -> torch.Tensor:
        with torch.no_grad():
            return decode(refine(model, generator, hyplatent, condition, args.num_samples, seed))

    rows = {"w/o HypFormer": plain, "w/ HypFormer": with_hypformer}
    origin = {"stage": WHO, "hypformer": os.path.abspath(args.out), "hyplatent": os.path.abspath(args.hyplatent)}
    paths = {name: [] for name in rows}
    for i in task_ids:  # each row's policies, on the same conditions and noise seeds, then evaluated alike
        task = Task.from_dict(collection[i]["task"])
        cond_ckpt = mtrl_conditions(collection, embedding, seen, i, args.eval_samples)
        for name, make in rows.items():
            params = make(embedding["tau_e"][i][cond_ckpt], args.seed + i)
            where = {**origin, "noise_seed": args.seed + i, "conditioning_checkpoints": cond_ckpt, "row": name}
            paths[name].append(files[f"{name} {i}"])
            save_atomic(generated_policy_file(task, hyplatent, params, len(task.goals), where, args), paths[name][-1], WHO)
    # the MTRL table of both rows (zeroshot_eval.py: retrieval and the random actor on the same goals)
    _, embedding_path, data = source_paths(args, hyplatent)
    result = score_policies(WHO, paths["w/o HypFormer"] + paths["w/ HypFormer"], files["table"], data, args, embedding_path)
    result["num_samples"] = args.num_samples  # L at evaluation; plot_tokens.py (paper Fig. 8) sweeps the trained L
    result["trained_num_samples"] = saved["num_samples"] if saved else args.num_samples
    write_json_atomic(files["table"], result, WHO)
    drawn = pca_figure(files["figure"], model, generator, hyplatent, ae, collection, embedding, args)
    where = {name: os.path.dirname(p[0]) for name, p in paths.items()}
    print(f"{WHO}: wrote {files.get('checkpoint', 'no checkpoint (--eval-only)')}, {files['table']}, the policies in "
          f"{where['w/ HypFormer']} (w/o HypFormer: {where['w/o HypFormer']})"
          + (f" and {files['figure']} (tasks {drawn})" if drawn else ""))  # fmt: skip
    return result


if __name__ == "__main__":
    main(tyro.cli(Args))
