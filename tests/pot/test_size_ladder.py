"""The registry's size ladder: tiny-lm from thousands of parameters to 25.4M, all admitted by the chain."""

from __future__ import annotations

from app.core import admission
from app.miner import demo
from app.pot import registry
from app.pot.hparams import format_params


def _spec(hp: dict[str, int]):  # type: ignore[no-untyped-def]
    # The shipped fables task with the rung's architecture; the admission rules read no checkpoint.
    return demo.task_spec("fables", "tiny-lm", local_steps=1200, checkpoint_interval=20).replace(
        hyperparams=format_params(hp)
    )


def test_ladder_grows_from_thousands_to_25_million_parameters() -> None:
    counts = [registry.parameter_count("tiny-lm", 1, format_params(hp)) for hp in registry.SIZE_LADDER.values()]
    assert counts == sorted(counts) and len(set(counts)) == len(counts)
    assert counts[0] < 50_000
    assert 25_000_000 < counts[-1] < 26_000_000  # width 512, 8 layers: 25.4M


def test_every_rung_is_admitted_by_the_chain_and_buildable_by_the_registry() -> None:
    for name, hp in registry.SIZE_LADDER.items():
        spec = _spec(hp)
        admission.check_spec(spec)  # raises InadmissibleTask when a bound refuses the rung
        registry.check_task_spec(spec)
        assert admission.compute_per_round(spec) <= admission.MAX_FLOPS_PER_ROUND, name
