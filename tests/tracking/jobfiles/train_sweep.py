"""A training job for the portal tests: two libaiflow runs (a learning-rate sweep) with curves
over steps, and, with --tensorboard, the same curves as TensorBoard event files in ./logs."""

import argparse
import os

import libaiflow

parser = argparse.ArgumentParser()
parser.add_argument("--experiment", required=True)
parser.add_argument("--rates", default="0.1,0.03")
parser.add_argument("--tensorboard", action="store_true")
args = parser.parse_args()

exp = libaiflow.init(experiment_name=args.experiment)
for rate in [float(r) for r in args.rates.split(",")]:
    writer = None
    if args.tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(os.path.join("logs", f"lr-{rate}"))
    with libaiflow.start_run(experiment_id=exp.experiment_id, run_name=f"lr-{rate}", tags={"sweep": "lr"}):
        libaiflow.log_params({"lr": rate, "epochs": 5, "optimizer": "sgd"})
        loss = 1.0
        for step in range(5):
            loss *= 1 - 3 * rate
            libaiflow.log_metric("loss", loss, step=step)
            libaiflow.log_metric("accuracy", 1 - loss, step=step)
            if writer is not None:
                writer.add_scalar("loss", loss, step)
    if writer is not None:
        writer.close()
print("done", exp.experiment_id)
