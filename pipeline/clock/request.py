"""What one clock model is asked to be: its label representation, data and budget, from the command line or a profile."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from pipeline import cli
from pipeline.config import PROFILES, ClockBudget, get_profile
from pipeline.errors import InputError

SPLITS = ("80/10/10", "80/20")
# Heads that are a network of their own (models/polar_reader.py): no pretrained backbone starts them, and they learn
# from the labels alone, with no dial output.
OWN_NETWORK_HEADS = ("polar",)
EXPERIMENT = "tell-the-time"  # where clock runs go when no experiment is named


@dataclass(frozen=True)
class ClockRequest:
    """One clock model: its label representation, the data it sees, and its training budget."""
    head: dict                      # HeadSpec fields
    image_size: int = 75
    budget: ClockBudget = field(default_factory=lambda: ClockBudget(epochs=1, patience=1))
    learning_rate: float = 2e-3
    augment: bool = True
    split: str = "80/10/10"
    seed: int = 0
    source: str = "synthetic"
    count: int = 18000
    register: bool = False
    backbone: str = ""              # the model URI of a pretrained backbone (pipeline.clock.backbone) to start from
    pretrained: dict = field(default_factory=dict)  # that backbone's Backbone fields, read from its metadata
    log_model: bool = True          # comparison runs measure; only models meant for use are logged
    reference: str = ""             # a folder of genuine labelled images the logged reader reads after training

    @property
    def own_network(self) -> bool:
        """True for a head with a network of its own: no backbone, no dial output."""
        return own_network(self.head)

    @property
    def spec(self):
        """The head as a HeadSpec."""
        from models.time_heads import HeadSpec

        return HeadSpec(**self.head)

    @property
    def architecture(self):
        """The network's backbone: the pretrained one's (`pretrained`), else a fresh one as wide as the budget says."""
        from models.clock_net import Backbone

        return Backbone(**self.pretrained) if self.pretrained else Backbone(widths=tuple(self.budget.widths))


def own_network(head: dict) -> bool:
    """True when the head (HeadSpec fields) is a network of its own, which no pretrained backbone starts."""
    return head.get("head") in OWN_NETWORK_HEADS


def head_fields(args) -> dict:
    """The HeadSpec fields from the command line."""
    return {"head": args.head, "n_classes": args.n_classes, "loss": args.loss, "minute_head": args.minute_head,
            "hands": args.hands, "decoding": args.decoding}


def add_data_arguments(p) -> None:
    """Arguments shared with clock_compare: profile, data, size, budget overrides."""
    p.add_argument("--profile", default="quick", choices=sorted(PROFILES))
    p.add_argument("--image-size", type=cli.optional(int), default=None, help="75 or 150 (default: the profile's)")
    p.add_argument("--epochs", type=cli.optional(int), default=None, help="default: the profile's")
    p.add_argument("--extra-train", type=cli.optional(int), default=None,
                   help="extra rendered training clocks (synthetic source only; default: the profile's)")
    p.add_argument("--train-limit", type=cli.optional(int), default=None,
                   help="train on at most this many of the training split's images (default: the profile's)")
    p.add_argument("--augment", type=cli.boolean, default=True,
                   help="random in-plane rotation while training (not with the dial output: it would falsify it; "
                        "not for polar, whose output a turn does not change)")
    p.add_argument("--split", default="80/10/10", choices=SPLITS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--source", default="synthetic", help="'synthetic' (the renderer) or a course-format folder")
    p.add_argument("--count", type=cli.optional(int), default=None, help="rendered images (default: the profile's)")
    p.add_argument("--learning-rate", type=float, default=2e-3)


def request_from(args, head: dict, budget_name: str = "clock") -> ClockRequest:
    """A ClockRequest from parsed arguments, the profile filling what was not given."""
    profile = get_profile(args.profile)
    budget = getattr(profile, budget_name)
    if args.epochs is not None:
        budget = dataclasses.replace(budget, epochs=args.epochs)
    overrides = {"extra_train": args.extra_train, "train_limit": args.train_limit}
    budget = dataclasses.replace(budget, **{k: v for k, v in overrides.items() if v is not None})
    size = args.image_size or profile.clock_size
    if size not in (75, 150):
        raise InputError(None, f"image size must be 75 or 150, got {size}")
    return ClockRequest(head=head, image_size=size, budget=budget, learning_rate=args.learning_rate,
                        augment=args.augment, split=args.split, seed=args.seed, source=args.source,
                        count=args.count or profile.clock_count, register=getattr(args, "register", False),
                        backbone=getattr(args, "backbone", ""), reference=getattr(args, "reference", ""))


