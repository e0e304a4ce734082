"""Calls through static inputs: a rehearsal on the CPU finds what a CUDA graph would replay wrongly, and lets pass what
it would replay right; on a GPU, the replayed graph computes what the calls compute eagerly."""

import pytest
import torch

from aevb.training.captured_calls import GRAPH_WARMUP_CALLS, CapturedCalls, NotReplayable

CALLS = GRAPH_WARMUP_CALLS + 4


class Walker:
    """State kept across calls: a position moved by each call's step, in place or (wrongly for a graph) rebound."""

    def __init__(self, device, in_place: bool = True):
        self.position, self.in_place, self.python_count = torch.zeros(3, device=device), in_place, 0

    def call(self, inputs: dict) -> dict:
        step = inputs["step"] * inputs["scale"]
        if self.in_place:
            self.position.add_(step)
        else:
            self.position = self.position + step
        return {"position": self.position.sum(), "noise": torch.randn(2, device=self.position.device)}

    def call_reading_a_python_count(self, inputs: dict) -> dict:
        self.python_count += 1
        self.position.add_(inputs["step"] * self.python_count)  # a graph replays the count it recorded
        return {"position": self.position.sum()}


def steps(count: int, device="cpu") -> list[dict]:
    generator = torch.Generator().manual_seed(0)
    return [{"step": torch.randn(3, generator=generator).to(device), "scale": 0.5 + i} for i in range(count)]


def test_a_rehearsed_call_computes_what_the_call_computes_eagerly():
    eager, rehearsed = Walker("cpu"), Walker("cpu")
    calls = CapturedCalls(torch.device("cpu"), rehearse=True)
    for inputs in steps(CALLS):
        expected = eager.call(inputs)["position"]
        assert torch.equal(calls("walk", inputs, rehearsed.call)["position"], expected)
    assert torch.equal(rehearsed.position, eager.position)


def test_state_rebound_instead_of_written_in_place_is_found():
    walker, calls = Walker("cpu", in_place=False), CapturedCalls(torch.device("cpu"), rehearse=True)
    with pytest.raises(NotReplayable, match="write kept state in place"):
        for inputs in steps(CALLS):
            calls("walk", inputs, walker.call)
    assert calls.eager_calls["walk"] == GRAPH_WARMUP_CALLS  # found at the first call after the recorded one


def test_a_number_read_on_the_host_that_changes_between_calls_is_found():
    walker, calls = Walker("cpu"), CapturedCalls(torch.device("cpu"), rehearse=True)
    with pytest.raises(NotReplayable, match="recorded"):
        for inputs in steps(CALLS):
            calls("walk", inputs, walker.call_reading_a_python_count)


def test_outputs_are_overwritten_by_the_next_call_of_their_key_as_a_graphs_are():
    walker, calls = Walker("cpu"), CapturedCalls(torch.device("cpu"), rehearse=True)
    kept = [calls("walk", inputs, walker.call)["position"] for inputs in steps(CALLS)]
    after_warm_up = kept[GRAPH_WARMUP_CALLS:]
    assert all(output is after_warm_up[0] for output in after_warm_up)
    assert torch.equal(after_warm_up[0], walker.position.sum())


def test_a_graph_needs_a_cuda_device():
    with pytest.raises(ValueError, match="rehearse"):
        CapturedCalls(torch.device("cpu"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="a CUDA graph needs a CUDA device")
def test_a_replayed_graph_computes_what_the_calls_compute_eagerly_random_draws_included():
    device = torch.device("cuda")
    eager, captured = Walker(device), Walker(device)
    calls = CapturedCalls(device)
    torch.cuda.manual_seed(1)
    expected = [{k: v.clone() for k, v in eager.call(inputs).items()} for inputs in steps(CALLS, device)]
    torch.cuda.manual_seed(1)
    for inputs, wanted in zip(steps(CALLS, device), expected, strict=True):
        outputs = calls("walk", inputs, captured.call)
        assert all(torch.equal(outputs[k], wanted[k]) for k in wanted)
    assert calls.recordings["walk"].graph is not None
