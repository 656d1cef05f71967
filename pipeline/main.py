"""Entry point `main`: the whole study as one parent run, each step its own entry-point run nested under it.

    mlflow run . -P profile=quick --env-manager local
"""
from __future__ import annotations

import time

from pipeline import cli, tracking
from pipeline.profiles import PROFILES, get_profile

EXPERIMENT = "study"


def study(profile_name: str, seed: int, fashion_mnist_dir: str = "", cifar10_path: str = "",
          clock_source: str = "synthetic") -> None:
    """Run every step of the study under one parent run."""
    profile = get_profile(profile_name)
    steps = [
        ("preprocess", {"dataset": "fashion_mnist", "source": fashion_mnist_dir, "seed": seed}),
        ("preprocess", {"dataset": "cifar10", "source": cifar10_path, "seed": seed}),
        ("preprocess", {"dataset": "clock", "source": clock_source, "seed": seed,
                        "size": profile.clock_size, "count": profile.clock_count}),
    ]
    started = time.perf_counter()
    with tracking.start_run(EXPERIMENT, run_name=f"study-{profile.name}"):
        tracking.log_params({"profile": profile.name, "seed": seed})
        for number, (entry_point, parameters) in enumerate(steps, start=1):
            print(f"[{time.perf_counter() - started:7.1f} s] step {number}/{len(steps)}: {entry_point} {parameters}",
                  flush=True)
            tracking.run_entry_point(entry_point, parameters)
    print(f"[{time.perf_counter() - started:7.1f} s] study finished")


def build_parser():
    p = cli.parser(__doc__.splitlines()[0])
    p.add_argument("--profile", default="quick", choices=sorted(PROFILES))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fashion-mnist-dir", default="")
    p.add_argument("--cifar10-path", default="")
    p.add_argument("--clock-source", default="synthetic")
    return p


def main(argv=None) -> None:
    cli.main_with(build_parser, lambda a: study(a.profile, a.seed, a.fashion_mnist_dir, a.cifar10_path,
                                                a.clock_source), argv)


if __name__ == "__main__":
    main()
