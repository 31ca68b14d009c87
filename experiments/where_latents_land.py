# Where the unseen tasks' latents land (docs/experiments/metaworld-generators.md): for every task of a HypFormer's MTRL
# table, on the table's own conditions and noise seeds, the latents of the generator alone and with HypFormer, against
# the seen tasks' ground-truth latent centroids and the task's own experts passed through the autoencoder's encoder
# (for an unseen task, experts the autoencoder never trained on: that centroid is only indicative). No rollout.
#   python experiments/where_latents_land.py --hypformer artifacts/hypformer.pt --out latents.json
import os
import sys
from dataclasses import dataclass

import torch
import tyro

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # common.py and the stage whose model this reads
from common import (  # noqa: E402
    ParamAutoencoder,
    check_output,
    load_artifact,
    load_collection,
    write_json_atomic,
)
from hypformer_train import HypFormer, frozen_models, refine, sample_latents  # noqa: E402

WHO = "where_latents_land"


@dataclass
class Args:
    hypformer: str = "artifacts/hypformer.pt"
    """HypFormer checkpoint of hypformer_train.py (it names its HypLatent, autoencoder, embedding and collection)"""
    out: str = "artifacts/latents.json"
    """where the distances are written (JSON)"""


@torch.no_grad()
def main(args: Args) -> dict:
    ckpt = load_artifact(
        args.hypformer, "hypformer", ("model_args", "state_dict", "hyplatent", "ae", "embedding", "data"), WHO
    )
    check_output(WHO, "--out", args.out, (args.hypformer,))
    hyplatent = load_artifact(ckpt["hyplatent"], "hyplatent", ("generator", "decoder", "train_task_ids"), WHO)
    ae = load_artifact(ckpt["ae"], "autoencoder", ("latents", "task_index", "model_args", "state_dict"), WHO)
    embedding = load_artifact(ckpt["embedding"], "behavior_embedding", ("tau_e", "holdout"), WHO)
    collection = load_collection(ckpt["data"], WHO, "--hypformer (its collection)")
    model = HypFormer(**ckpt["model_args"])
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    generator, _ = frozen_models(hyplatent)
    encoder = ParamAutoencoder(**ae["model_args"])
    encoder.load_state_dict(ae["state_dict"])
    encoder.eval()
    seen, hf_args = hyplatent["train_task_ids"], ckpt["args"]
    z_gt = ae["latents"].flatten(1)
    centroid = {i: z_gt[ae["task_index"] == i].mean(0) for i in seen}  # the seen tasks' ground-truth latents
    seen_c = torch.stack([centroid[i] for i in seen])
    result = {}
    for i in sorted(collection):
        source = embedding["holdout"][i] if i in seen else list(range(len(collection[i]["params"])))
        cond = embedding["tau_e"][i][[source[n % len(source)] for n in range(hf_args["eval_samples"])]]
        seed = hf_args["seed"] + i  # the MTRL table's noise seed of task i
        plain = sample_latents(generator, hyplatent["noise_dim"], cond, 1, torch.Generator().manual_seed(seed))[:, 0]
        refined = refine(model, generator, hyplatent, cond, hf_args["num_samples"], seed)
        own = centroid[i] if i in seen else encoder.encode(encoder.normalize(collection[i]["params"])).flatten(1).mean(0)
        row = {"name": collection[i]["task"]["name"], "seen": i in seen}
        for name, z in (("w/o HypFormer", plain), ("w/ HypFormer", refined)):
            d_seen, d_own = torch.cdist(z, seen_c), (z - own).norm(dim=1)  # (samples, seen tasks), (samples,)
            nearest = torch.tensor(seen)[d_seen.argmin(1)]
            row[name] = {
                "distance to own": float(d_own.mean()),
                "distance to nearest seen centroid": float(d_seen.min(1).values.mean()),
                "nearest its own task (fraction)": float((d_own <= d_seen.min(1).values).float().mean()),
                "pulled toward": collection[int(nearest.mode().values)]["task"]["name"],
            }
        result[str(i)] = row
        print(f"{row['name']}: " + "; ".join(f"{n} own {row[n]['distance to own']:.1f}, nearest seen "
              f"{row[n]['distance to nearest seen centroid']:.1f} ({row[n]['pulled toward']})"
              for n in ("w/o HypFormer", "w/ HypFormer")))  # fmt: skip
    write_json_atomic(args.out, result, WHO)
    return result


if __name__ == "__main__":
    main(tyro.cli(Args))
