"""DiVE's teacher network from a finished checkpoint (semscale/engine/teacher.py): rebuilt as trained, frozen, run on
every training batch's images, its logits what DiVE distils; refused when missing, unfinished or of another size."""
import numpy as np
import pytest
import torch

from semscale.engine import TrainConfig, Trainer
from semscale.engine.teacher import load_teacher
from test_engine_methods import COUNTS, TINY, imbalanced_set, one_thread  # noqa: F401 (autouse fixture)


@pytest.fixture
def finished_bs_teacher(tmp_path):
    """A balanced-softmax run trained to the end (DiVE's teacher in Table 2), its checkpoint path and network."""
    images, labels = imbalanced_set()
    path = tmp_path / "teacher.pt"
    teacher = Trainer(TrainConfig(**TINY, loss="bs"), images, labels, len(COUNTS), checkpoint=path, progress=False)
    teacher.fit()
    return path, teacher.network


def test_dive_distils_the_teacher_networks_logits_on_each_batch(finished_bs_teacher, tmp_path):
    path, teacher_network = finished_bs_teacher
    images, labels = imbalanced_set()
    config = TrainConfig(**TINY, method="dive", method_options={"teacher_checkpoint": str(path)})
    student = Trainer(config, images, labels, len(COUNTS), progress=False)
    assert not student.teacher.training and not any(p.requires_grad for p in student.teacher.parameters())
    before = {k: v.clone() for k, v in student.teacher.state_dict().items()}
    seen = []
    forward = student.method.forward

    def spy(features, labels=None, teacher_logits=None, **rest):
        if labels is not None:
            seen.append(teacher_logits)
        return forward(features, labels, teacher_logits=teacher_logits, **rest)

    student.method.forward = spy
    original = student.train_step

    def train_step(batch_images, *rest, **options):
        out = original(batch_images, *rest, **options)
        teacher_network.eval()
        with torch.no_grad():   # the teacher's logits on this batch's images, from the trained network itself
            expected = teacher_network(batch_images)[0]
        torch.testing.assert_close(seen[-1], expected, rtol=0, atol=0)
        return out

    student.train_step = train_step
    student.fit()
    assert len(seen) == 2 * int(np.ceil(len(labels) / TINY["batch_size"]))   # every training step got them
    for key, value in student.teacher.state_dict().items():   # frozen: training never moved it
        assert torch.equal(value, before[key]), key


def test_missing_unfinished_and_mismatched_teachers_are_refused(finished_bs_teacher, tmp_path):
    path, _ = finished_bs_teacher
    with pytest.raises(FileNotFoundError, match="no such file; train the teacher first"):
        load_teacher(tmp_path / "absent.pt", 3, 1, (8, 8), "cpu")
    state = torch.load(path, weights_only=False)
    state["epoch"] = 1
    torch.save(state, tmp_path / "unfinished.pt")
    with pytest.raises(ValueError, match="unfinished run \\(epoch 1 of 2\\)"):
        load_teacher(tmp_path / "unfinished.pt", 3, 1, (8, 8), "cpu")
    with pytest.raises(ValueError, match="do not fit a 5-class small_cnn"):
        load_teacher(path, 5, 1, (8, 8), "cpu")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a semscale training checkpoint"):
        load_teacher(tmp_path / "other.pt", 3, 1, (8, 8), "cpu")
