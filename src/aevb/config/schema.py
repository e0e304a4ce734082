"""The config schema, read from the code it configures: each `_target_` node may set only the parameters of its target,
with values of their annotated types. A wrong key or type fails before anything is built, in one line naming the key.

Ranges (a latent size of at least 1, a positive step size) are checked where the values are used, in the
constructors; `build` turns their errors into the same one-line ConfigError.
"""

import inspect
import types
import typing
from collections.abc import Callable

from hydra.errors import InstantiationException
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, OmegaConf

from aevb.errors import ConfigError

INSTANTIATE_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}
# Ours, or widened, turned into Trainer arguments by run_checks.trainer_arguments
EXTRA_KEYS = {"trainer": {"max_samples": float, "enable_progress_bar": bool | typing.Literal["auto"]}}
GROUPS = ("model", "data", "optimizer", "scheduler", "trainer", "logger", "callbacks", "step_size_selection")
# Renamed config keys, old -> new: the old spelling is refused naming the new one (on the command line and in config
# files), and read as the new one in the saved config of a run that predates the rename (aevb.runs.legacy.saved_config).
RENAMED_KEYS = {
    "model.num_samples": "model.bound_samples",  # L, the draws of z per datapoint in the SGVB bound
    "model.marginal_likelihood.num_samples": "model.log_px.posterior_samples",  # HMC draws (App. D)
    "model.marginal_likelihood": "model.log_px",  # the estimator of log p(x) that evaluations run (conf/estimator/)
    "model/marginal_likelihood": "model/log_px",  # its config group, on the command line
}
# aevb-eval's estimator of log p(x) is a config group (conf/estimator/); k and the memory bound are its settings
EVAL_RENAMED_KEYS = {
    "num_samples": "estimator.importance_samples",
    "importance_samples": "estimator.importance_samples",
    "max_rows": "estimator.max_rows",
}
# Classes whose **kwargs go on to another callable, which takes them as its settings: logger.wandb.group (tags,
# entity, job_type, notes, ...) is a setting of wandb.init. MLFlowLogger takes no **kwargs: its tags are its own.
FORWARDED_KEYWORDS = {
    "lightning.pytorch.loggers.wandb.WandbLogger": "wandb.init",
    "lightning.pytorch.loggers.tensorboard.TensorBoardLogger": "torch.utils.tensorboard.SummaryWriter",
}


def refuse_renamed_keys(arguments: list[str], renamed: dict[str, str]) -> None:
    """Refuse command-line overrides (key=value, +key=value, sweeps key=a,b) of a renamed key or of a key inside a
    renamed node, naming the new one."""
    for argument in arguments:
        key = argument.split("=", 1)[0].lstrip("+~")
        for old, new in renamed.items():
            if key == old or key.startswith(f"{old}."):
                new_key = new + key.removeprefix(old)
                raise ConfigError(f"{key} is now called {new_key} (the same setting): write {new_key}=...")


def parameters(target: Callable) -> dict[str, inspect.Parameter] | None:
    """The keyword parameters a target takes; a class whose __init__ passes **options on takes its bases' too, or
    those of the callable FORWARDED_KEYWORDS names. None for a builtin without a signature (datetime.timedelta): its
    own constructor checks its arguments; None too when that callable's package is not installed, which the build
    then reports."""
    try:
        inspect.signature(target)
    except ValueError:
        return None
    found: dict[str, inspect.Parameter] = {}
    for owner in target.__mro__ if inspect.isclass(target) else (target,):
        function = owner.__init__ if inspect.isclass(owner) else owner
        if inspect.isclass(owner) and "__init__" not in vars(owner):
            continue
        try:
            signature = inspect.signature(function, eval_str=True)
        except (NameError, TypeError):
            signature = inspect.signature(function)
        named = {n: p for n, p in signature.parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        found = {**named, **found}
        if not any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values()):
            break
        receiver = FORWARDED_KEYWORDS.get(f"{owner.__module__}.{owner.__qualname__}")
        if receiver is not None:
            try:
                forwarded = parameters(get_object(receiver))
            except ImportError:
                return None
            found = {**(forwarded or {}), **found}
            break
    found.pop("self", None)
    return found


def accepts(annotation, value) -> bool:
    """Whether a config value fits a parameter's annotation; types this cannot judge are left to the constructor."""
    if annotation in (inspect.Parameter.empty, typing.Any):
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(accepts(arm, value) for arm in typing.get_args(annotation))
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if (origin or annotation) in (list, tuple):
        return isinstance(value, list | tuple)
    if inspect.isclass(annotation) and annotation.__module__ != "builtins" or origin is Callable or annotation is Callable:
        return isinstance(value, dict) and "_target_" in value  # an object the config builds
    return True


def describe(annotation) -> str:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(dict.fromkeys(describe(arm) for arm in typing.get_args(annotation)))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(choice) for choice in typing.get_args(annotation))
    if annotation is type(None):
        return "null"
    if inspect.isclass(annotation) and annotation.__module__ == "builtins":
        return {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}.get(
            annotation.__name__, f"a {annotation.__name__}"
        )
    return f"a config node with a _target_ ({getattr(annotation, '__name__', annotation)})"


def check_node(path: str, node: dict) -> None:
    try:
        target = get_object(node["_target_"])
    except Exception as error:
        raise ConfigError(f"{path}._target_={node['_target_']} cannot be imported ({error})") from error
    allowed = parameters(target)
    if allowed is None:
        return
    extra = EXTRA_KEYS.get(path, {})
    for key, value in node.items():
        if key in INSTANTIATE_KEYS:
            continue
        if f"{path}.{key}" in RENAMED_KEYS:
            raise ConfigError(f"{path}.{key} is now called {RENAMED_KEYS[f'{path}.{key}']} (the same setting)")
        if key not in allowed and key not in extra:
            raise ConfigError(
                f"{path}.{key} is not a setting of {node['_target_']}; its settings are: {', '.join(sorted({*allowed, *extra}))}"
            )
        annotation = extra[key] if key in extra else allowed[key].annotation
        if key in extra and value is None:
            continue
        if not accepts(annotation, value):
            raise ConfigError(f"{path}.{key}={value!r} must be {describe(annotation)}")
        if isinstance(value, dict) and "_target_" in value:
            check_node(f"{path}.{key}", value)


def check_schema(cfg: DictConfig) -> None:
    """Check every `_target_` node of the groups that a run builds (GROUPS)."""
    for group in GROUPS:
        node = cfg.get(group)
        if not node:
            continue
        values = OmegaConf.to_container(node, resolve=True)
        if "_target_" in values:
            check_node(group, values)
        else:  # callbacks: a node of named callbacks
            for name, callback in values.items():
                if callback is not None:  # callbacks.<name>=null leaves that callback out
                    check_node(f"{group}.{name}", callback)


def build(node: DictConfig, path: str, **kwargs):
    """instantiate(node), with a constructor's refusal of a value raised as one line naming the key."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as error:
        cause = error.__cause__ or error
        message = str(cause).strip()
        raise ConfigError(message if message.startswith(f"{path}.") else f"{path}: {message}") from error
