"""The training step shared by the miner and the verifier, so both run exactly the same code.

A `Session` is a registry model and its optimiser on one device, built from a `TaskSpec`. `run_steps`
trains it on the seeded batches of steps `[start, stop)`; the miner calls it segment by segment, the
verifier once per challenged segment. The loss is cross-entropy over the last dimension of the logits,
for classifiers and for the language model alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch.nn import functional as F

from app.core.types import TaskSpec
from app.pot import optim, registry
from app.pot.datasets import Split, segment_indices
from app.pot.tensors import encode_tensors


class Session:
    """A model and its optimiser on `device`, ready to load a checkpoint and train."""

    def __init__(self, spec: TaskSpec, device: torch.device) -> None:
        self.spec = spec
        self.device = device
        # Built on the meta device and given memory without initialising it: every use loads a checkpoint
        # first (`load` requires every parameter), so the random initialisation was wasted work, a tenth
        # of a second for a 10M-parameter model, paid by each verifier replay and re-computation.
        model = registry.build_model(spec.model, spec.model_version, spec.hyperparams, device=registry.META)
        self.model = model.to_empty(device=device)
        self.opt = optim.build_optimizer(spec.optimizer, spec.optimizer_params, self.model)
        self._loaded = False
        self.model.train()  # once: the registry's models behave the same in both modes, and train() walks every module
        # Called in `step` right before the optimiser changes the parameters and its state (nothing else
        # does): the miner's checkpoint writer copies the state on its thread while the next step's
        # forward and backward run, and this waits for that copy.
        self.before_update: Callable[[], None] | None = None

    def load(self, tensors: Mapping[str, torch.Tensor]) -> None:
        """Load parameters (and optimiser state when present; none means a fresh optimiser)."""
        optim.import_state(tensors, self.model, self.opt, self.spec.optimizer)
        self._loaded = True

    def export(self) -> dict[str, torch.Tensor]:
        """A copy of the parameters and optimiser state, float32 on the CPU."""
        return optim.export_state(self.model, self.opt, self.spec.optimizer)

    def checkpoint_blob(self) -> bytes:
        """The canonical checkpoint bytes now (serialised straight from the live tensors, one copy)."""
        return encode_tensors(optim.export_state(self.model, self.opt, self.spec.optimizer, copy=False))

    def live_state(self) -> dict[str, torch.Tensor]:
        """`export`'s tensors without the copy: views of the live ones where they are float32 on the CPU,
        unchanged until the next optimiser step (`before_update` lets a reader finish first)."""
        return optim.export_state(self.model, self.opt, self.spec.optimizer, copy=False)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One optimiser step on one batch; returns the batch loss before the update (detached)."""
        if not self._loaded:
            raise RuntimeError("a session trains only after `load` (its memory is not initialised)")
        self.opt.zero_grad(set_to_none=True)
        logits = self.model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1).long())
        torch.autograd.backward(loss)
        if self.before_update is not None:
            self.before_update()
        self.opt.step()
        return loss.detach()


def run_steps(
    session: Session,
    data: Split,
    seed: bytes,
    start: int,
    stop: int,
    loss_sum: torch.Tensor,
    on_step: Callable[[int, torch.Tensor], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Train steps `start..stop-1` on their seeded batches, adding each loss into `loss_sum` in place.

    Returns the step reached: `stop`, or earlier when `should_stop()` turned true between two steps.
    """
    if start >= stop:
        return stop
    order = segment_indices(seed, start, stop, session.spec.batch_size, len(data)).to(data.inputs.device)
    for step in range(start, stop):
        if should_stop is not None and should_stop():
            return step
        loss = session.step(*data.batch(order[step - start]))
        loss_sum += loss
        if on_step is not None:
            on_step(step, loss)
    return stop


def update_tensors(final: dict[str, torch.Tensor], base: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """W' - W_r over the parameters, float32 on the CPU (elementwise, so exact and reproducible)."""
    return {k: final[k] - base[k] for k in sorted(optim.params_of(final))}


@torch.no_grad()
def evaluate(
    spec: TaskSpec, params: Mapping[str, torch.Tensor], data: Split, device: torch.device, batch: int = 512
) -> float:
    """Mean cross-entropy of the model with `params` over every sample of `data`."""
    session = Session(spec, device)
    session.load(optim.params_of(params))
    session.model.eval()
    total, count = 0.0, 0
    for i in range(0, len(data), batch):
        x = data.inputs[i : i + batch].to(device)
        y = data.targets[i : i + batch].to(device)
        logits = session.model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1).long(), reduction="sum")
        total += float(loss)
        count += y.numel()
    return total / count
