"""What every training algorithm here shares: the generative model p(z) p(x|z), its optimiser, and its evaluation."""

import inspect
import logging
from collections.abc import Callable

import lightning.pytorch as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.trainer.states import TrainerFn
from torch import Tensor
from torch.optim.lr_scheduler import ReduceLROnPlateau

from aevb.components.likelihoods import Likelihood
from aevb.components.posteriors import DiagonalNormalPosterior
from aevb.components.priors import Prior, StandardNormal
from aevb.data.facts import DataFacts
from aevb.errors import ConfigError, TrainingDiverged
from aevb.estimators.log_px import LogPxEstimator, check_model
from aevb.lightning_adapter import CheapHookNames, calls_done, count_optimizer_step, overridden_update_hooks
from aevb.models.views import LatentViews
from aevb.training.captured_calls import CapturedCalls
from aevb.training.divergence import FirstNonFinite, divergence_report
from aevb.training.optim import WarmupAdagrad
from aevb.training.sample_counts import SampleCounts
from aevb.training.split_averages import SplitAverages

READ_BACK_EVERY = 100  # calls of training_step between reads of what an accelerator's updates noted (check_finite)
CUDA_GRAPH_MODES = (True, False, "rehearse")

log = logging.getLogger(__name__)


def reads_back_cheaply(device: torch.device) -> bool:
    """Whether reading a value back to Python costs nothing: on the CPU; an accelerator first finishes its queue."""
    return device.type == "cpu"


class LatentVariableModel(CheapHookNames, LatentViews, L.LightningModule):
    """The generative model p(x, z) = p(z) p(x|z); a subclass adds the training algorithm.

    data: what the model is told of its data (aevb.data.facts.DataFacts): image shape, N_train, binary or not, the
        evaluation splits; it never reaches for the datamodule.
    decoder: a factory called as decoder(data_shape, latent_dim, params_per_pixel) (see aevb.components.networks).
    encoder: a factory called as encoder(data_shape, latent_dim), the recognition model of q(z|x) (`posterior`), or
        None for a model without one (Monte Carlo EM).
    prior: a factory called as prior(latent_dim), once the networks exist, with whichever of `encoder`, `data_shape`
        and `value_range` it names too (see aevb.components.priors; a prior may hold the model's encoder, as the VampPrior
        does); None: N(0, I), the paper's.
    optimizer: a factory called with the parameter groups.
    scheduler: a factory called with the optimiser, giving its learning-rate scheduler, or None for a constant rate.
        Training takes its steps itself (manual optimisation), so it steps the scheduler too, at one well-defined
        point: a ReduceLROnPlateau after each evaluation in training, on model_selection/score; any other after each
        weight update. Lightning keeps its state in checkpoints, so a resumed run continues the schedule exactly.
    init_std: if set, every network parameter starts from N(0, init_std^2) (the paper: 0.01; a learned prior's own
        parameters start where it puts them); if None, PyTorch's default initialisation.
    weight_prior: MAP training as in the paper: a N(0, I) prior on the weights (not the biases)
        of the full-data objective, i.e. an L2 penalty of 1/N_train per datapoint, passed to the
        optimizer as the weight decay of the weights' parameter group.
    log_px: an estimator of log p(x) (aevb.estimators.log_px) that every evaluation runs beside the subclass's own
        terms, logged under its name (log_px_hmc for the Appendix D estimator of Figure 3, log_px_ais, log_px_is), or None.
    compile: torch.compile the networks (encoder and decoder) when training or evaluation starts.
    cuda_graph: True: on a CUDA device, each call of training_step (data.steps_per_call updates: forward, backward,
        the optimiser's step) replays one recorded CUDA graph, where the setup allows (`why_not_captured`; otherwise
        the calls run as written, and the log says why); the minibatches and their noise are drawn as without it, so
        the updates are the same. False: never. "rehearse": on any device, the calls go through the graph's static
        inputs and are checked to be replayable (aevb.training.captured_calls), as a test of a model on a CPU.
    gradient_clip_norm: if set, each update rescales the gradient to this norm at most (off in the paper).

    A trained model shows itself through aevb.models.views.LatentViews: sample, encode, decode, reconstruct, interpolate,
    traverse, manifold, and Trainer.predict.

    A NaN or infinite training loss stops training (TrainingDiverged) and no checkpoint holds a diverged model: on the
    CPU at the update where it appears, before any parameter takes a step from it; on an accelerator, which is never
    made to wait for a value per update, at the next evaluation, checkpoint or READ_BACK_EVERY-th call, naming the
    update. Minibatch scalars reach the loggers there too.

    Each evaluation averages `evaluation_terms` over whole splits; the scalars are logged against
    `samples_seen`, the number of training samples evaluated (the paper's x-axis), which is saved
    in checkpoints. Callbacks see each as a metric, "<term>/<split>" (e.g. lower_bound/val), beside
    model_selection/score, the selection term on the validation split (train where the data has none).
    """

    algorithm: str  # its name in figures and tables, e.g. "AEVB"
    selection_term = "lower_bound"  # the evaluation term whose validation value picks best.ckpt
    updates_per_batch = 1  # weight updates per minibatch, each of which evaluates the minibatch's samples
    needs_datapoint_indices = False  # True: training batches come as (x, index into the training split)
    stacks = True  # whether its jobs of a stacked sweep compute their gradients together (aevb.stacking)

    def __init__(
        self,
        data: DataFacts,
        latent_dim: int,
        decoder: Callable,
        likelihood: Likelihood,
        optimizer: Callable,
        init_std: float | None = None,
        weight_prior: bool = False,
        log_px: LogPxEstimator | None = None,
        compile: bool = False,
        cuda_graph: bool | str = True,
        gradient_clip_norm: float | None = None,
        prior: Callable[..., Prior] | None = None,
        scheduler: Callable | None = None,
        encoder: Callable | None = None,
    ):
        super().__init__()
        if latent_dim < 1:
            raise ValueError(f"model.latent_dim={latent_dim} must be at least 1")
        if init_std is not None and init_std <= 0:
            raise ValueError(f"model.init_std={init_std} must be positive, or null for PyTorch's default initialisation")
        if cuda_graph not in CUDA_GRAPH_MODES:
            raise ValueError(f"model.cuda_graph={cuda_graph!r} is not one of true, false, rehearse")
        if gradient_clip_norm is not None and not gradient_clip_norm > 0:
            raise ValueError(f"model.gradient_clip_norm={gradient_clip_norm} must be positive, or null for no clipping")
        self.data, self.data_shape, self.latent_dim = data, tuple(data.shape), latent_dim
        # The prior's place among the modules is kept first, so the parameters of existing runs keep their order (their
        # optimiser states are saved by it); it is built once the networks exist, which it may use.
        self.register_module("prior", None)
        self.decoder = decoder(data_shape=self.data_shape, latent_dim=latent_dim, params_per_pixel=likelihood.params_per_pixel)
        self.likelihood = likelihood
        if encoder is not None:
            self.encoder = encoder(data_shape=self.data_shape, latent_dim=latent_dim)
        self.prior = self.build_prior(prior or StandardNormal)
        self.make_optimizer, self.make_scheduler = optimizer, scheduler
        self.init_std, self.weight_prior = init_std, weight_prior
        self.log_px = log_px
        self.compile_networks, self._compiled = compile, False
        self.cuda_graph = cuda_graph
        self._captured_calls: CapturedCalls | None = None  # set when training starts, if its calls replay a graph
        self.gradient_clip_norm = gradient_clip_norm
        self.automatic_optimization = False  # see training_step
        self.samples_seen = 0
        self.last_evaluation: dict = {}
        self._averages = SplitAverages()
        self.config: dict | None = None  # the model's config (aevb.build sets it); checkpoints carry it for loading
        # In a stacked sweep (hydra/launcher=stacked): called as (model, batch, noise), it sets .grad and returns what
        # training_loss would, computed with the other jobs' at once (aevb.stacking.gradients); its calls(model, own)
        # runs whole calls with the other jobs' where they replay graphs (aevb.stacking.calls). None: alone.
        self.stacked_gradients: Callable | None = None
        self._first_nonfinite: FirstNonFinite | None = None  # on an accelerator (check_finite)
        self._unlogged: list[tuple[int, dict[str, Tensor]]] = []  # minibatch scalars not read back yet, with their steps
        self.initialise_parameters()

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "algorithm" not in vars(cls):  # a subclass trains another way, so it has another name in figures and tables
            raise TypeError(f'{cls.__name__} must name its training algorithm: algorithm = "..." (as VAE\'s "AEVB")')

    def build_prior(self, factory: Callable[..., Prior]) -> Prior:
        """factory(latent_dim=...), given too whichever of the model's `encoder`, `data_shape` and the data's
        `value_range` it names."""
        asked = inspect.signature(factory).parameters
        offered = {"data_shape": self.data_shape, "value_range": self.data.value_range}
        offered |= {"encoder": self.encoder} if self.has_encoder else {}
        if "encoder" in asked and not self.has_encoder and asked["encoder"].default is inspect.Parameter.empty:
            raise ConfigError(
                f"the prior {getattr(factory, 'func', factory).__name__} is made of the recognition model q(z|x), and "
                f"{self.algorithm} has none: use model/prior=standard_normal or mixture, or a model with an encoder "
                "(model=mlp, conv, iwae or wake_sleep)"
            )
        return factory(latent_dim=self.latent_dim, **{name: value for name, value in offered.items() if name in asked})

    def prior_parameters(self) -> list[torch.nn.Parameter]:
        """The prior's own learned parameters: those of the prior that no network of the model holds too."""
        networks = {id(p) for name, module in self.named_children() if name != "prior" for p in module.parameters()}
        return [p for p in self.prior.parameters() if id(p) not in networks]

    def network_parameters(self) -> list[torch.nn.Parameter]:
        """The parameters of the networks and the likelihood, each once (a network the prior uses among them): all but
        the prior's own, which start where the prior puts them."""
        prior_own = {id(p) for p in self.prior_parameters()}
        return [p for p in self.parameters() if id(p) not in prior_own]

    def initialise_parameters(self) -> None:
        """Draw every network parameter from N(0, init_std^2), if init_std is set (once the networks and prior exist)."""
        if self.init_std is not None:
            for parameter in self.network_parameters():
                torch.nn.init.normal_(parameter, mean=0.0, std=self.init_std)

    def configure_model(self) -> None:
        if self.compile_networks and not self._compiled:
            # In place, so the parameters keep their names in checkpoints.
            for network in (self.get_submodule(name) for name in ("encoder", "decoder") if hasattr(self, name)):
                network.compile()
            self._compiled = True

    def posterior(self, x: Tensor) -> DiagonalNormalPosterior:
        """q(z|x) for the images x, from the recognition model (a model with an encoder only)."""
        self._require_encoder("posterior")
        return DiagonalNormalPosterior(*self.encoder(x))

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x, z) = log p(x|z) + log p(z) per datapoint, for z of shape (..., batch, latent)."""
        params = self.decoder(z.reshape(-1, z.shape[-1])).unflatten(0, z.shape[:-1])
        return self.likelihood.log_prob(params, x) + self.prior.log_prob(z.float())

    def decode_mean(self, z: Tensor) -> Tensor:
        """The mean of p(x|z), as images."""
        return self.likelihood.mean(self.decoder(z))

    def parameter_groups(self, num_train: int) -> list[dict]:
        """The parameters for the optimizer; with `weight_prior`, the network weights decay by 1/num_train, the biases
        (and a learned prior's parameters) not."""
        if not self.weight_prior:
            return [{"params": list(self.parameters())}]
        weights = [p for p in self.network_parameters() if p.ndim > 1]
        others = [p for p in self.parameters() if not any(p is w for w in weights)]
        # log p(theta) = -|w|^2 / 2 joins the full-data bound of N datapoints; per datapoint that is -|w|^2 / (2N)
        return [{"params": weights, "weight_decay": 1.0 / num_train}, {"params": others, "weight_decay": 0.0}]

    def on_fit_start(self) -> None:
        if self.log_px is not None:
            check_model(self.log_px, self)
        if self.data.binary is not None:
            self.likelihood.check_data(binary=self.data.binary)

    def configure_optimizers(self):
        optimizer = self.make_optimizer(self.parameter_groups(num_train=self.data.train_size))
        if self.make_scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.make_scheduler(optimizer)}

    # Training: a subclass returns its loss and the minibatch scalars worth logging.
    def training_loss(self, batch, noise=None) -> tuple[Tensor, dict[str, Tensor]]:
        """The loss of one update on `batch`, given its `training_noise` (drawn here when None)."""
        raise NotImplementedError

    def training_step(self, minibatches: list | Tensor, batch_idx: int) -> None:
        """Train on each minibatch in turn (data.steps_per_call of them), up to the trainer's step limit: as one
        replayed CUDA graph where training started so (`cuda_graph`), and the whole call is within the limit. An
        ordinary DataLoader's batch (a tensor, or the one-tensor list of a TensorDataset) is one minibatch."""
        minibatches = [minibatches] if isinstance(minibatches, Tensor) else minibatches
        steps_left = self.trainer.max_steps - self.trainer.global_step
        if self._captured_calls is not None and (self.trainer.max_steps < 0 or len(minibatches) <= steps_left):
            self.captured_updates(minibatches)
            return
        for minibatch in minibatches:
            if 0 <= self.trainer.max_steps <= self.trainer.global_step:
                break
            self.update(minibatch)

    def update(self, batch) -> None:
        """One minibatch: `prepare_minibatch` (a hook: MCEM's E-step), then `updates_per_batch` stochastic gradient
        steps on its loss (Algorithm 1). Written out: Lightning's automatic optimisation costs more per step than the
        rest of its loop for this small model."""
        datapoints = len(batch[0] if isinstance(batch, tuple | list) else batch)
        batch, scalars = self.prepare_minibatch(batch)
        for _ in range(self.updates_per_batch):
            noise = self.training_noise(batch)
            if self.stacked_gradients is None:
                loss, step_scalars = self.training_loss(batch, noise)
                self.check_finite(loss)
                self.optimizers().zero_grad()
                self.manual_backward(loss)
            else:  # the jobs of a stacked sweep compute theirs together; each one's .grad is set
                loss, step_scalars = self.stacked_gradients(self, batch, noise)
                self.check_finite(loss)
            self.take_step()
        self.count_samples(datapoints)
        self.log_minibatch({**step_scalars, **scalars})

    # Training calls as CUDA graphs (cuda_graph): the same updates, the host out of the device's way.
    def why_not_captured(self) -> str | None:
        """Why this run's training calls cannot replay a recorded graph (they then run as written); None if they can."""
        trainer, optimizer = self.trainer, self.optimizers().optimizer
        scheduler = self.lr_schedulers()
        if self.updates_per_batch != 1 or type(self).prepare_minibatch is not LatentVariableModel.prepare_minibatch:
            return f"{self.algorithm} prepares each minibatch on the host before its updates"
        if trainer.world_size > 1:
            return "under data parallelism each update waits for the other processes' gradients"
        if not isinstance(optimizer, WarmupAdagrad):
            return f"{type(optimizer).__name__} counts its steps on the host (the graph records WarmupAdagrad's step)"
        if scheduler is not None and not isinstance(scheduler, ReduceLROnPlateau):
            return f"{type(scheduler).__name__} changes the learning rate between the updates of a call"
        if trainer.precision not in ("32-true", "bf16-mixed"):
            return f"precision {trainer.precision} checks its scaled gradients on the host"
        if self.compile_networks:
            return "model.compile=true: torch.compile records graphs of its own"
        if hooks := overridden_update_hooks(trainer):
            return f"{', '.join(hooks)} must run at each update"
        return None

    def on_train_start(self) -> None:
        self._captured_calls = None
        if self.cuda_graph is False or (self.cuda_graph is True and self.device.type != "cuda"):
            return
        if reason := self.why_not_captured():
            log.info("training calls run as written, not as CUDA graphs: %s", reason)
            return
        self.optimizers().optimizer.count_on_device()  # no step count read on the host
        self._first_nonfinite = self._first_nonfinite or FirstNonFinite(self.device)
        own = CapturedCalls(self.device, rehearse=self.cuda_graph == "rehearse")
        # in a stacked sweep, each call is handed in and run with the other jobs' (aevb.stacking.calls)
        self._captured_calls = own if self.stacked_gradients is None else self.stacked_gradients.calls(self, own)

    def captured_updates(self, minibatches: list) -> None:
        """The updates of `update` on each minibatch, as one call of `captured_call` on what changes between calls."""
        optimizer = self.optimizers()
        # the noise is drawn here, in the order `update` draws it: the same updates as without a graph
        noises = [self.training_noise(minibatch) for minibatch in minibatches]
        inputs = {"minibatches": minibatches, "noises": noises, "update": self.trainer.global_step + 1,
                  "samples_seen": self.samples_seen}  # fmt: skip
        # what the recorded call holds fixed: the shapes, and the learning rates (a plateau schedule changes them)
        key = (tuple((tuple(x.shape), x.dtype) for x in minibatches), tuple(group["lr"] for group in optimizer.param_groups))
        scalars = self._captured_calls(key, inputs, self.captured_call)
        for minibatch, step_scalars in zip(minibatches, scalars, strict=True):
            count_optimizer_step(optimizer)
            self.count_samples(len(minibatch))
            self.log_minibatch(step_scalars)

    def captured_call(self, inputs: dict) -> list[dict[str, Tensor]]:
        """`update`'s stochastic gradient steps on each minibatch of `inputs` with its noise, written for a graph: the
        finite-loss check noted on the device, the optimiser stepped directly (Lightning's step counter moves after)."""
        optimizer = self.optimizers().optimizer
        parameters = [p for group in optimizer.param_groups for p in group["params"]]
        samples_seen, scalars = inputs["samples_seen"], []
        for index, (batch, noise) in enumerate(zip(inputs["minibatches"], inputs["noises"], strict=True)):
            loss, step_scalars = self.training_loss(batch, noise)
            self._first_nonfinite.note(loss.detach(), inputs["update"] + index, samples_seen)
            gradients = torch.autograd.grad(loss, parameters, allow_unused=True)
            for parameter, gradient in zip(parameters, gradients, strict=True):
                parameter.grad = gradient
            if self.gradient_clip_norm is not None:  # as Lightning clips: every parameter of the optimiser
                torch.nn.utils.clip_grad_norm_(parameters, self.gradient_clip_norm)
            optimizer.step()
            samples_seen = samples_seen + len(batch)
            scalars.append({name: value.detach() for name, value in step_scalars.items()})
        return scalars

    def prepare_minibatch(self, batch) -> tuple[object, dict[str, Tensor]]:
        """What the updates of a minibatch train on, and scalars worth logging; as it comes, unless a subclass says."""
        return batch, {}

    def training_noise(self, batch) -> object:
        """The random draws an update's loss needs, drawn before it in the order the loss would draw them (a stacked
        sweep draws each job's from that job's random state, then computes the jobs' losses at once); None: none."""
        return None

    def check_finite(self, loss: Tensor) -> None:
        """A NaN or infinite loss stops training here, before any parameter takes a step from it; on an accelerator
        the first one is noted on the device, and `stop_if_diverged` stops training where it reads it."""
        loss, update = loss.detach(), self.trainer.global_step + 1
        if not reads_back_cheaply(loss.device):
            self._first_nonfinite = self._first_nonfinite or FirstNonFinite(loss.device)
            self._first_nonfinite.note(loss, update, self.samples_seen)
        elif not torch.isfinite(loss):
            self._diverged(loss.item(), update, self.samples_seen)

    def stop_if_diverged(self) -> None:
        """Read back what the updates noted: log their minibatch scalars, and stop if one had a non-finite loss."""
        self.log_unlogged()
        first = self._first_nonfinite.read() if self._first_nonfinite is not None else None
        if first is not None:
            self._diverged(*first)

    def _diverged(self, loss: float, update: int, samples_seen: int) -> None:
        report = divergence_report(loss, self.trainer, update, samples_seen, self.likelihood, self.data.value_range)
        raise TrainingDiverged(report)

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if calls_done(self.trainer) % READ_BACK_EVERY == 0:
            self.stop_if_diverged()

    def on_train_end(self) -> None:
        self.stop_if_diverged()

    def take_step(self) -> None:
        """One optimiser step down the gradient in .grad, clipped to gradient_clip_norm if set; then the learning-rate
        scheduler's step, unless it steps at evaluations."""
        optimizer = self.optimizers()
        if self.gradient_clip_norm is not None:
            self.clip_gradients(optimizer, gradient_clip_val=self.gradient_clip_norm, gradient_clip_algorithm="norm")
        optimizer.step()
        scheduler = self.lr_schedulers()
        if scheduler is not None and not isinstance(scheduler, ReduceLROnPlateau):
            scheduler.step()

    def count_samples(self, batch_size: int) -> None:
        """A minibatch of `batch_size` datapoints on this rank, of every rank's, is behind us."""
        self.samples_seen += SampleCounts(batch_size * self.trainer.world_size, self.updates_per_batch).samples(1)

    def log_minibatch(self, scalars: dict[str, Tensor]) -> None:
        every = self.trainer.log_every_n_steps  # 0: no minibatch scalars
        if every and self.trainer.global_step % every < self.updates_per_batch:
            # copies: a replayed graph overwrites its outputs
            self._unlogged.append((self.samples_seen, {f"minibatch/{n}": v.detach().clone() for n, v in scalars.items()}))
            if reads_back_cheaply(self.device):
                self.log_unlogged()

    def log_unlogged(self) -> None:
        """Minibatch scalars kept on the device so far, read back and logged at the steps they were taken."""
        for step, scalars in self._unlogged:
            self._log_scalars(scalars, step)
        self._unlogged = []

    # Evaluation: per-datapoint terms averaged over whole splits (the curves of Figures 2 and 3).
    def evaluation_terms(self, x: Tensor) -> dict[str, Tensor]:
        """Per-datapoint values, each of shape (batch,), that an evaluation averages over each split."""
        if self.log_px is None:
            return {}
        return self.log_px(self, x)

    # (aevb.callbacks.resumable_state keeps an evaluation's random draws out of training's)
    def on_validation_epoch_start(self) -> None:
        self.stop_if_diverged()
        self._averages = SplitAverages()

    def validation_step(self, batch: Tensor, batch_idx: int, dataloader_idx: int = 0) -> None:
        batch = batch[0] if isinstance(batch, list | tuple) else batch  # a TensorDataset's one-tensor list
        self._averages.add(self.data.evaluation_names[dataloader_idx], self.evaluation_terms(batch))

    def on_validation_epoch_end(self) -> None:
        results, datapoints = self._averages.averages(lambda sums: self.trainer.strategy.reduce(sums, reduce_op="sum"))
        if self.trainer.sanity_checking:
            return
        selection = results.get(f"{self.selection_term}/val", results.get(f"{self.selection_term}/train"))
        # For callbacks (EarlyStopping, ModelCheckpoint, a plateau scheduler) only: the loggers get every term below,
        # against samples seen. Already equal on every rank (the sums were reduced); syncing averages equal values.
        self.log_dict({**results, "model_selection/score": selection}, logger=False, sync_dist=True)
        scheduler = self.lr_schedulers() if self.trainer.state.fn == TrainerFn.FITTING else None
        if isinstance(scheduler, ReduceLROnPlateau):
            scheduler.step(selection)
        self.last_evaluation = {"samples_seen": self.samples_seen, "datapoints": datapoints, **results}
        self._log_scalars(results)

    def _log_scalars(self, metrics: dict, step: int | None = None) -> None:
        metrics = {k: float(v) for k, v in metrics.items()}
        for logger in self.loggers:
            logger.log_metrics(metrics, step=self.samples_seen if step is None else step)

    # (aevb.callbacks.resumable_state saves the random states and flushes the curves with each checkpoint)
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        self.stop_if_diverged()  # never a checkpoint of a diverged model
        checkpoint["samples_seen"] = self.samples_seen
        checkpoint["last_evaluation"] = self.last_evaluation
        if self.config is not None:
            checkpoint["model_config"] = {"model": self.config, "data": DataFacts.record(self.data)}

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path, map_location=None, **_) -> "LatentVariableModel":
        """The trained model of an aevb-train checkpoint, rebuilt from the config and data facts the checkpoint carries,
        in eval mode, without its optimizer: `VAE.load_from_checkpoint("outputs/runs/<run>/checkpoints/last.ckpt")`.
        A checkpoint of a run started before checkpoints carried them loads with aevb.build.load_model(path)."""
        checkpoint = torch.load(checkpoint_path, map_location=map_location or "cpu", weights_only=True)
        if "model_config" not in checkpoint:
            raise ValueError(f"{checkpoint_path} carries no model config (written before they did): load it with "
                             "aevb.build.load_model(path), which reads its run's config.yaml")  # fmt: skip
        saved = checkpoint["model_config"]
        model = instantiate(saved["model"], data=DataFacts.from_record(saved["data"]), optimizer=None)
        if not isinstance(model, cls):
            raise TypeError(f"{checkpoint_path} holds a {type(model).__name__} ({model.algorithm}), not a {cls.__name__}")
        model.load_state_dict(checkpoint["state_dict"])
        model.on_load_checkpoint(checkpoint)
        model.config = saved["model"]
        return model.eval()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.samples_seen = checkpoint.get("samples_seen", 0)
        self.last_evaluation = checkpoint.get("last_evaluation", {})
