"""`logger=tensorboard`: Lightning's TensorBoardLogger, with the tabs of TensorBoard laid out for aevb's runs.

- TIME SERIES and SCALARS: the bound's section first and open (the tags of aevb.runs.tensorboard_tags).
- CUSTOM SCALARS: a category per term, the bound's open; in it a chart per split, whose lines are the runs.
- HPARAMS: a row per run with its hyperparameters (booleans as booleans; the columns a sweep compares shown first) and,
  as metrics, the last points of the selection term's curves, so no scalar of its own is written for them.
"""

import re
import time
from pathlib import Path

from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata as layout_metadata
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2, summary_v2
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.util import tensor_util

from aevb.runs.curves import EVALUATED_SPLITS
from aevb.runs.tensorboard_tags import tensorboard_tag

CHARTED_TERMS = {"lower_bound": "lower bound", "importance_weighted_bound": "L_k (IWAE)", "log_likelihood": "E[log p(x|z)]",
                 "kl": "KL(q || p)", "log_px_hmc": "log p(x), Appendix D", "log_px_ais": "log p(x), AIS",
                 "log_px_is": "log p(x), importance sampling"}  # fmt: skip


def chart_layout(names: list[str]) -> layout_pb2.Layout:
    """CUSTOM SCALARS: for each charted term among the logged `names` (<term>/<split>), a category with a chart per
    split; only the bound's category is open."""
    categories = []
    for term, title in CHARTED_TERMS.items():
        charts = [
            layout_pb2.Chart(
                title=f"{title}: {split}",
                multiline=layout_pb2.MultilineChartContent(tag=[f"^{re.escape(tensorboard_tag(f'{term}/{split}'))}$"]),
            )
            for split in EVALUATED_SPLITS
            if f"{term}/{split}" in names
        ]
        if charts:
            categories.append(layout_pb2.Category(title=title, chart=charts, closed=term != "lower_bound"))
    return layout_pb2.Layout(category=categories)


def hparam_info(name: str, value, compared: bool) -> api_pb2.HParamInfo:
    """The HPARAMS column of a hyperparameter: a boolean has the domain {False, True}; a compared one is marked as
    differing between runs: TensorBoard puts those columns first and shows the first five."""
    info = api_pb2.HParamInfo(name=name, differs=compared)
    if isinstance(value, bool):
        info.type = api_pb2.DATA_TYPE_BOOL
        info.domain_discrete.extend([False, True])
    elif isinstance(value, int | float):
        info.type = api_pb2.DATA_TYPE_FLOAT64
    else:
        info.type = api_pb2.DATA_TYPE_STRING
    return info


def plugin_summary(tag: str, content: summary_pb2.SummaryMetadata, tensor=hparams_metadata.NULL_TENSOR) -> summary_pb2.Summary:
    """A plugin's summary as the plugin's own writer (which needs TensorFlow) writes it."""
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, metadata=content, tensor=tensor)])


def layout_summary(layout: layout_pb2.Layout) -> summary_pb2.Summary:
    tensor = tensor_util.make_tensor_proto(layout.SerializeToString())
    return plugin_summary(layout_metadata.CONFIG_SUMMARY_TAG, layout_metadata.create_summary_metadata(), tensor)


def experiment_summary(hparams: list[api_pb2.HParamInfo], metrics: list[api_pb2.MetricInfo]) -> summary_pb2.Summary:
    """The HPARAMS tab's columns, as summary_v2.hparams_config_pb writes them, with the `differs` mark it cannot set."""
    experiment = api_pb2.Experiment(hparam_infos=hparams, metric_infos=metrics, time_created_secs=time.time())
    content = hparams_metadata.create_summary_metadata(plugin_data_pb2.HParamsPluginData(experiment=experiment))
    return plugin_summary(hparams_metadata.EXPERIMENT_TAG, content)


class SectionedTensorBoardLogger(TensorBoardLogger):
    """TensorBoardLogger that logs under aevb's TensorBoard tags, lays out CUSTOM SCALARS at the first evaluation it
    logs, and writes the HPARAMS session with `log_session`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._charted = False

    @rank_zero_only
    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        if not self._charted and any(name.partition("/")[0] in CHARTED_TERMS for name in metrics):
            # at step 0, which no resumed run purges
            self.experiment._get_file_writer().add_summary(layout_summary(chart_layout(list(metrics))))
            self._charted = True
        super().log_metrics({tensorboard_tag(name): value for name, value in metrics.items()}, step)

    @rank_zero_only
    def log_session(self, hyperparameters: dict, compared: list[str], curves: list[str]) -> None:
        """The run's HPARAMS row: `hyperparameters` (those named in `compared` shown first) and, as metrics, the last
        points of `curves` (logged names, e.g. lower_bound/test); hparams.yaml beside the events."""
        self.log_hyperparams(hyperparameters)  # hparams.yaml only: with no metrics Lightning writes no session
        infos = [hparam_info(name, value, name in compared) for name, value in hyperparameters.items()]
        metrics = [api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tensorboard_tag(curve))) for curve in curves]
        writer = self.experiment._get_file_writer()
        writer.add_summary(experiment_summary(infos, metrics))
        writer.add_summary(summary_v2.hparams_pb(hyperparameters, trial_id=Path(self.save_dir).name))  # one row per run
