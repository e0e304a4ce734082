"""A call of training_step as one CUDA graph: its updates recorded once, then replayed without the host in the way.

A graph replays the kernels it recorded with the values they were recorded with. So whatever changes from call to call
(the minibatches, the noise, the update count) reaches the call in tensors at fixed addresses, its static inputs,
copied in before each replay; whatever the call keeps (parameters, optimiser state, the divergence note) it writes in
place; and what it returns is overwritten by the next replay. Each distinct call (its `key`: the minibatch shapes and
whatever else the caller's code reads as a number) runs eagerly for its first GRAPH_WARMUP_CALLS calls, on a side stream
as the CUDA graphs documentation asks, and is recorded at the next.

`rehearse=True` keeps that protocol on any device without a graph: every call runs eagerly, and each one after the warm-up
is checked against the call recorded for its key for what a replay could not do: run other operations, with other
constants, or read a tensor from outside the call at another address (state rebound instead of written in place).
A model's training call can so be tested for capture on a CPU.
"""

from collections import Counter
from collections.abc import Callable, Hashable

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

GRAPH_WARMUP_CALLS = 3  # eager calls of each key before it is recorded


class NotReplayable(RuntimeError):
    """A call that a CUDA graph would replay wrongly (found by a rehearsal)."""


class CallTrace(TorchDispatchMode):
    """The operations of one call with what a replay holds fixed: each operation, its constants, and the address of
    every tensor it reads from outside the call (one the call has not made)."""

    def __init__(self):
        super().__init__()
        self.operations: list[tuple] = []
        self._made: set[int] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        if func.namespace == "profiler":  # markers for a profiler (the optimiser's step has one): no device work
            return result
        fixed = []
        for value in tree_flatten((args, kwargs))[0]:
            if isinstance(value, Tensor):
                address = value.untyped_storage().data_ptr()
                outside = None if address in self._made else (address, value.storage_offset())
                fixed.append((tuple(value.shape), value.dtype, outside))
            else:
                fixed.append(repr(value))
        self.operations.append((str(func), tuple(fixed)))
        self._made.update(t.untyped_storage().data_ptr() for t in tree_flatten(result)[0] if isinstance(t, Tensor))
        return result


def first_difference(recorded: list[tuple], replayed: list[tuple]) -> str | None:
    for index, (was, now) in enumerate(zip(recorded, replayed, strict=False)):
        if was != now:
            return f"operation {index}: recorded {was}, called again as {now}"
    if len(recorded) != len(replayed):
        return f"{len(recorded)} operations recorded, {len(replayed)} in a later call"
    return None


class Recording:
    """One key's static inputs and outputs, and its graph once recorded (or its trace, rehearsed)."""

    def __init__(self, inputs, device: torch.device):
        # numbers become 0-d tensors, filled anew before each call
        self.inputs = tree_map(lambda v: v.clone() if isinstance(v, Tensor) else torch.tensor(v, device=device), inputs)
        self.outputs = None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.trace: list[tuple] | None = None

    def load(self, inputs) -> None:
        for static, value in zip(tree_flatten(self.inputs)[0], tree_flatten(inputs)[0], strict=True):
            static.copy_(value) if isinstance(value, Tensor) else static.fill_(value)

    def keep(self, outputs):
        """Outputs at fixed addresses, as a graph's are: the first call's tensors, overwritten by each later call."""
        if self.outputs is None:
            self.outputs = outputs
        else:
            for static, value in zip(tree_flatten(self.outputs)[0], tree_flatten(outputs)[0], strict=True):
                static.copy_(value)
        return self.outputs


class CapturedCalls:
    """Runs calls through static inputs: replayed as CUDA graphs, or eagerly and checked (`rehearse`)."""

    def __init__(self, device: torch.device, rehearse: bool = False):
        if not rehearse and device.type != "cuda":
            raise ValueError(f"a CUDA graph needs a CUDA device, not {device}: rehearse the calls instead")
        self.device, self.rehearse = device, rehearse
        self.recordings: dict[Hashable, Recording] = {}
        self.eager_calls: Counter = Counter()

    def __call__(self, key: Hashable, inputs, call: Callable):
        """call(static inputs) for these `inputs` (a pytree of tensors and numbers): its outputs, a pytree of tensors
        that the next call of the same key overwrites."""
        recording = self.recordings.get(key)
        if recording is None:
            recording = self.recordings[key] = Recording(inputs, self.device)
        else:
            recording.load(inputs)
        warming_up = self.eager_calls[key] < GRAPH_WARMUP_CALLS
        self.eager_calls[key] += warming_up
        if self.rehearse:
            return self._rehearsed(recording, call, record=not warming_up and recording.trace is None)
        if warming_up:
            return self._on_side_stream(call, recording.inputs)
        if recording.graph is None:
            self._record(recording, call)
        recording.graph.replay()
        return recording.outputs

    def _rehearsed(self, recording: Recording, call: Callable, record: bool):
        if recording.trace is None and not record:
            return recording.keep(call(recording.inputs))
        with CallTrace() as trace:
            outputs = call(recording.inputs)
        if record:
            recording.trace = trace.operations
        elif difference := first_difference(recording.trace, trace.operations):
            raise NotReplayable(
                f"a training call differs from the one recorded for it, so a CUDA graph would replay it wrongly ({difference}): "
                "read what changes between calls from the call's input tensors, and write kept state in place"
            )
        return recording.keep(outputs)

    def _on_side_stream(self, call: Callable, inputs):
        current, side = torch.cuda.current_stream(self.device), torch.cuda.Stream(self.device)
        side.wait_stream(current)
        with torch.cuda.stream(side):
            outputs = call(inputs)
        current.wait_stream(side)
        for tensor in tree_flatten(outputs)[0]:
            tensor.record_stream(current)  # read on the current stream: its memory is not reused before
        return outputs

    def _record(self, recording: Recording, call: Callable) -> None:
        recording.graph = torch.cuda.CUDAGraph()
        # autocast's cache of cast weights would hold tensors from outside the graph: off while recording
        autocast = torch.autocast(
            "cuda", dtype=torch.get_autocast_dtype("cuda"), enabled=torch.is_autocast_enabled("cuda"), cache_enabled=False
        )
        with autocast, torch.cuda.graph(recording.graph):
            recording.outputs = call(recording.inputs)
