"""What a model is told of its data when it is built, so that it never reaches for the datamodule."""

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class DataFacts:
    """shape: (C, H, W) of one image. train_size: N_train, the images of the training split (the weight prior's 1/N,
    MCEM's chains); None where unknown (a model rebuilt to be evaluated). binary: every training image the model sees
    is 0 or 1 (a Bernoulli likelihood needs it); None where unknown. evaluation_names: the evaluation splits, in the
    order of the datamodule's val_dataloader. value_range: the training images' smallest and largest values, for the
    message of a diverged run; None where unknown."""

    shape: tuple[int, int, int]
    train_size: int | None = None
    binary: bool | None = None
    evaluation_names: tuple[str, ...] = ("train", "val", "test")
    value_range: tuple[float, float] | None = None

    @classmethod
    def from_record(cls, record: dict) -> "DataFacts":
        """The facts of `record(facts)`, e.g. as a checkpoint carries them."""
        return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in record.items()})

    @staticmethod
    def record(facts) -> dict:
        """The facts as plain values (lists for tuples), from a DataFacts or from the config node Hydra made of one."""
        return {field.name: plain(getattr(facts, field.name)) for field in dataclasses.fields(DataFacts)}

    @classmethod
    def of(cls, datamodule) -> "DataFacts":
        """The facts of a set-up datamodule (aevb.data.in_memory.InMemoryDataModule)."""
        train = datamodule.splits["train"]
        return cls(
            shape=tuple(datamodule.data_shape),
            train_size=len(train),
            binary=datamodule.is_binary,
            evaluation_names=tuple(datamodule.evaluation_names),
            value_range=(train.min().item(), train.max().item()),
        )

    @classmethod
    def of_split_record(cls, shape: tuple[int, int, int], record: dict) -> "DataFacts":
        """The facts a run recorded in its data_split.json as it started (aevb.runs.directory.Run.split_file)."""
        sizes = record["sizes"]
        return cls(
            shape=tuple(shape),
            train_size=sizes["train"],
            binary=record["binarize"] != "none" or None,  # continuous files may still hold binary images: unknown
            evaluation_names=tuple(name for name in ("train", "val", "test") if sizes.get(name)),
        )


def plain(value):
    return [plain(item) for item in value] if isinstance(value, list | tuple) or type(value).__name__ == "ListConfig" else value
