"""TensorFlow Datasets as a source (data=tfds, the tfds extra): a dataset prepared beforehand,
read with no download (download=False, try_gcs=False). Prepare it where there is network, e.g.
`tfds build mnist --data_dir DIR`, and copy DIR over; its version is part of data.tfds_name."""

from collections.abc import Callable

from omegaconf import DictConfig

from .sources import RawExamples


def tfds_examples(data_cfg: DictConfig, input_type: str, encode: Callable) -> RawExamples:
    """The train split (and the test split, if any) of data.tfds_name in data.tfds_data_dir
    (null: ~/tensorflow_datasets): its `input_type` feature (Image, Text) encoded, its labels."""
    try:
        import tensorflow_datasets as tfds  # here only: the tfds extra
    except ImportError as error:
        extra = "pip install -e '.[tfds]'"
        raise ValueError(f"data=tfds needs the tfds extra: {extra} ({error})") from None
    name, data_dir = data_cfg.tfds_name, data_cfg.tfds_data_dir
    try:
        splits, info = tfds.load(
            name, data_dir=data_dir, download=False, try_gcs=False, with_info=True
        )
    except (AssertionError, ValueError) as error:  # not prepared there; no such dataset
        raise ValueError(
            f"data.tfds_name={name}: {str(error).splitlines()[0]} Prepare it where there is "
            f"network (tfds build {name} --data_dir DIR), then set data.tfds_data_dir=DIR."
        ) from None
    features = reversed(info.features.items())  # so that the first feature of a kind wins
    kinds = {type(feature).__name__: key for key, feature in features}
    if "ClassLabel" not in kinds or input_type not in kinds:
        raise ValueError(f"data.tfds_name={name} has no {input_type} and ClassLabel features.")
    class_names = info.features[kinds["ClassLabel"]].names

    def examples(split: str) -> RawExamples:  # kept encoded, as the other sources keep them
        inputs, labels = [], []
        for row in tfds.as_numpy(splits[split]):
            inputs.append(encode(row[kinds[input_type]]))
            labels.append(int(row[kinds["ClassLabel"]]))
        return RawExamples(inputs, labels, class_names)

    train = examples("train")
    train.test = examples("test") if "test" in splits else None
    return train
