import keras
import numpy as np
import pytest

from {{ cookiecutter.package_name }}.model import FocalLoss

LABELS = np.array([0, 1, 2, 1])
LOGITS = np.array(
    [[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 0.0, 3.0], [1.5, -0.5, 0.0]], np.float32
)


def one_hot() -> np.ndarray:
    return np.eye(3, dtype=np.float32)[LABELS]


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_gamma_zero_is_cross_entropy(label_smoothing):
    focal = FocalLoss(gamma=0.0, label_smoothing=label_smoothing, reduction="none")
    expected = keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=label_smoothing, reduction="none"
    )(one_hot(), LOGITS)
    np.testing.assert_allclose(focal(LABELS, LOGITS), expected, rtol=1e-5)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_matches_keras_categorical_focal_loss(label_smoothing):
    focal = FocalLoss(gamma=2.0, alpha=0.25, label_smoothing=label_smoothing, reduction="none")
    expected = keras.losses.CategoricalFocalCrossentropy(
        alpha=0.25, gamma=2.0, from_logits=True, label_smoothing=label_smoothing, reduction="none"
    )(one_hot(), LOGITS)
    np.testing.assert_allclose(focal(LABELS, LOGITS), expected, rtol=1e-5)


def test_probabilities_give_the_same_loss_as_logits():
    probabilities = keras.ops.softmax(LOGITS).numpy()
    np.testing.assert_allclose(
        FocalLoss(from_logits=False, reduction="none")(LABELS, probabilities),
        FocalLoss(reduction="none")(LABELS, LOGITS),
        rtol=1e-4,
    )


def test_easy_examples_count_less_than_hard_ones():
    logits = np.array([[4.0, 0.0], [0.5, 0.0]], np.float32)  # both right, one confidently
    cross_entropy = FocalLoss(gamma=0.0, reduction="none")([0, 0], logits).numpy()
    focal = FocalLoss(gamma=2.0, reduction="none")([0, 0], logits).numpy()
    assert (focal < cross_entropy).all()
    assert focal[0] / focal[1] < cross_entropy[0] / cross_entropy[1]


def test_per_class_alpha_weighs_each_example_by_its_class():
    alpha = [1.0, 2.0, 0.5]
    weighted = FocalLoss(alpha=alpha, reduction="none")(LABELS, LOGITS)
    plain = FocalLoss(reduction="none")(LABELS, LOGITS)
    np.testing.assert_allclose(weighted, plain * np.take(alpha, LABELS), rtol=1e-6)


def test_round_trips_through_its_config_and_a_saved_model(tmp_path):
    loss = FocalLoss(gamma=1.5, alpha=[1.0, 3.0], label_smoothing=0.1)
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert restored.get_config() == loss.get_config()
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="logits")(inputs))
    model.compile("adam", loss)
    model.save(tmp_path / "model.keras")
    reloaded = keras.models.load_model(tmp_path / "model.keras")
    assert reloaded.loss.get_config() == loss.get_config()


def test_trains_a_classifier_on_imbalanced_data():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    labels = (rng.random(200) < 0.1).astype(np.int32)  # 10% positives
    features = rng.normal(0.0, 1.0, (200, 2)).astype(np.float32) + labels[:, None] * 3.0
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="logits")(inputs))
    model.compile(keras.optimizers.Adam(0.05), FocalLoss(gamma=2.0, alpha=[0.25, 0.75]))
    history = model.fit(features, labels, batch_size=32, epochs=10, verbose=0).history
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    predictions = model.predict(features, verbose=0).argmax(axis=-1)
    assert (predictions[labels == 1] == 1).mean() >= 0.8


@pytest.mark.parametrize(
    "options", [{"gamma": -1.0}, {"label_smoothing": 1.0}], ids=["gamma", "smoothing"]
)
def test_bad_values_are_refused(options):
    with pytest.raises(ValueError, match=next(iter(options))):
        FocalLoss(**options)
