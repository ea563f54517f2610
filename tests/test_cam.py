"""regions/classifier.py, cam.py and select.py: the offline classifier, CAM/Grad-CAM, regions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from mosaicgan.errors import ModelError
from mosaicgan.nets.lite0 import (
    EfficientNetLite0,
    imagenet_classes,
    lite0_weights_path,
    same_padding,
)
from mosaicgan.regions.base import Regions
from mosaicgan.regions.cam import (
    CAM,
    CAM_METHODS,
    GradCAM,
    cam_method,
    class_activation_map,
    normalise_maps,
)
from mosaicgan.regions.classifier import Classifier, resolve_target
from mosaicgan.regions.masks import box_mask, iou
from mosaicgan.regions.select import regions_from_heatmap

from .conftest import photo

# Checked by eye on overlays of the photos with a 50 px grid (and the CAM drawn on them):
# chelsea: the cat's head fills the frame from its left cheek (x 30) to its right ear
# (x 400), top to bottom; to the right of x 400 is background.
CHELSEA_CAT = (30, 0, 370, 300)  # x 30-400, y 0-300
# coffee: the cup from the rim's left edge (x 172) to its right edge (x 410), from the top
# of the rim (y 18) to the bottom of the cup body (y 268); saucer and spoon excluded.
COFFEE_CUP = (172, 18, 238, 250)  # x 172-410, y 18-268


def box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int], shape) -> float:
    return iou(box_mask(*shape, a), box_mask(*shape, b))


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.default()


class TinyCNN(nn.Module):
    """conv -> ReLU -> global average pool -> Linear: the smallest model with a CAM head."""

    def __init__(self, classes: int = 5, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.act = nn.ReLU()
        self.fc = nn.Linear(8, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.act(self.conv(x)).mean(dim=(2, 3)))


def tiny_classifier(model: TinyCNN | None = None) -> Classifier:
    model = model or TinyCNN()
    return Classifier(model, [f"c{i}" for i in range(5)], features_layer=model.act,
                      head=model.fc, size=32)


def hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               for m in model.modules())


# --------------------------------------------------------------------------- classifier


class TestClassifier:
    def test_weights_load_strictly(self):
        state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
        model = EfficientNetLite0()
        result = model.load_state_dict(state, strict=True)
        assert not result.missing_keys and not result.unexpected_keys
        assert len(state) == 296
        assert sum(p.numel() for p in model.parameters()) == pytest.approx(4.65e6, rel=0.01)

    def test_same_padding_matches_tensorflow(self):
        # TF SAME: out = ceil(n / s); the odd pixel of padding goes after.
        assert same_padding(224, 3, 2) == (0, 1)
        assert same_padding(225, 3, 2) == (1, 1)
        assert same_padding(224, 5, 1) == (2, 2)
        assert same_padding(7, 5, 2) == (2, 2)

    def test_features_are_fully_convolutional(self, classifier):
        x = torch.zeros(1, 3, 333, 517)
        with torch.no_grad():
            feats = classifier.model.features(x)
        assert feats.shape == (1, 1280, 11, 17)  # ceil(333/32), ceil(517/32)
        assert float(feats.min()) >= 0 and float(feats.max()) <= 6  # after ReLU6

    def test_chelsea_is_a_cat(self, classifier):
        top5 = {name for _, name, _ in classifier.top(photo("chelsea"), k=5)}
        assert top5 & {"tiger cat", "tabby", "Egyptian cat"}

    def test_coffee_is_espresso(self, classifier):
        (index, name, probability), *_ = classifier.top(photo("coffee"))
        assert name == "espresso" and index == 967
        assert probability > 0.8  # 0.95 with the centre crop

    def test_imagenet_names(self):
        names = imagenet_classes()
        assert len(names) == 1000 and names[1] == "goldfish"
        assert names[638] == names[639] == "maillot"


class TestResolveTarget:
    names = imagenet_classes()

    def test_index_digits_and_exact_names(self):
        assert resolve_target(281, self.names) == 281
        assert resolve_target("281", self.names) == 281
        assert resolve_target("tabby", self.names) == 281
        assert resolve_target("Espresso", self.names) == 967  # exact beats "espresso maker"
        assert resolve_target("tiger cat", self.names) == 282

    def test_unique_substring(self):
        assert resolve_target("espresso mak", self.names) == 550
        assert resolve_target("goldfis", self.names) == 1
        assert resolve_target("persian", self.names) == 283  # a whole word of one name

    def test_unknown_name_lists_close_matches(self):
        with pytest.raises(ValueError, match="unknown class 'tabbby'; close matches: ") as err:
            resolve_target("tabbby", self.names)
        message = str(err.value)
        assert "\n" not in message and "tabby" in message
        assert len(message.split(": ", 1)[1].split(", ")) <= 5

    def test_ambiguous_substring_lists_candidates(self):
        with pytest.raises(ValueError, match="ambiguous") as err:
            resolve_target("cat", self.names)
        message = str(err.value)
        assert "\n" not in message and "tiger cat (282)" in message
        assert "oystercatcher" not in message  # whole words first

    def test_duplicate_name_is_ambiguous(self):
        with pytest.raises(ValueError, match=r"maillot \(638\), maillot \(639\)"):
            resolve_target("maillot", self.names)

    @pytest.mark.parametrize("spec", [1000, -1, "1000", True, 2.5])
    def test_bad_index(self, spec):
        with pytest.raises(ValueError):
            resolve_target(spec, self.names)


# --------------------------------------------------------------------------- CAM on photos


class TestCamOnPhotos:
    def test_cam_covers_the_cat(self, classifier):
        image = photo("chelsea")
        result = class_activation_map(image, classifier, target="tiger cat")
        regions = result.regions()
        assert result.heatmap.shape == image.shape[:2] and result.class_name == "tiger cat"
        assert len(regions) == 1
        # CAM box (50, 0, 355, 265) at threshold 0.5: IoU 0.83 with the box checked by eye.
        assert box_iou(regions.boxes[0], CHELSEA_CAT, image.shape[:2]) >= 0.5

    @pytest.mark.parametrize("target", ["espresso", "cup"])
    def test_cam_covers_the_cup(self, classifier, target):
        image = photo("coffee")
        regions = class_activation_map(image, classifier, target=target).regions()
        # espresso: box (180, 45, 248, 182), IoU 0.67; cup: (179, 34, 278, 189), IoU 0.62.
        assert box_iou(regions.boxes[0], COFFEE_CUP, image.shape[:2]) >= 0.5
        x, y, w, h = regions.boxes[0]
        assert regions.mask[y + h // 2, x + w // 2]  # the centre of the cup is covered

    def test_score_gate(self, classifier):
        image = photo("coffee")
        absent = class_activation_map(image, classifier, target="goldfish")
        assert absent.probability < 0.01
        assert len(absent.regions(min_score=0.05)) == 0
        assert not absent.regions(min_score=0.05).mask.any()
        assert len(absent.regions()) == 1  # without the gate the map still has a peak
        present = class_activation_map(image, classifier, target="espresso")
        assert len(present.regions(min_score=0.05)) == 1

    def test_auto_target_is_the_top_class(self, classifier):
        result = class_activation_map(photo("coffee"), classifier, target="auto")
        assert result.class_name == "espresso" and result.probability > 0.5

    def test_cam_and_gradcam_agree(self, classifier):
        # For pooling + linear, Grad-CAM's weights are head.weight[c] / (h*w): proportional.
        x = classifier.prepare(photo("chelsea"))
        with CAM(classifier.model, classifier.features_layer, classifier.head) as cam:
            raw_cam, index, _, _ = cam.raw_maps(x, 282)
        with GradCAM(classifier.model, classifier.features_layer, classifier.head) as grad:
            raw_grad, _, _, _ = grad.raw_maps(x, 282)
        h, w = raw_cam.shape[-2:]
        torch.testing.assert_close(raw_grad * (h * w), raw_cam, rtol=1e-3, atol=1e-3)
        a, b = raw_cam.clamp(min=0).flatten(), raw_grad.clamp(min=0).flatten()
        assert float(torch.corrcoef(torch.stack([a, b]))[0, 1]) >= 0.95
        assert int(index) == 282
        assert all(p.grad is None for p in classifier.model.parameters())

    def test_multiscale_odd_size(self, classifier):
        image = np.pad(photo("chelsea"), ((0, 33), (0, 66), (0, 0)), mode="edge")  # 333x517
        before = image.copy()
        result = class_activation_map(image, classifier, scales=(224, 320, 448))
        assert result.heatmap.shape == (333, 517) and result.heatmap.dtype == np.float32
        assert result.heatmap.min() >= 0 and result.heatmap.max() == pytest.approx(1.0)
        assert result.scales == (224, 320, 448)
        assert "cat" in result.class_name
        np.testing.assert_array_equal(image, before)


# --------------------------------------------------------------------------- registry


class TestRegistry:
    @pytest.mark.parametrize("name", sorted(CAM_METHODS))
    @pytest.mark.parametrize("batch", [1, 2])
    def test_shapes_range_and_input_untouched(self, name, batch):
        model = TinyCNN()
        x = torch.rand(batch, 3, 37, 45)
        before = x.clone()
        with CAM_METHODS[name](model, model.act, model.fc) as cam:
            out = cam(x, targets=None)
            assert hook_count(model) == 1
        assert out.maps.shape == (batch, 37, 45) and out.maps.dtype == torch.float32
        assert float(out.maps.min()) >= 0 and float(out.maps.max()) <= 1
        assert out.class_index.shape == (batch,) and out.probability.shape == (batch,)
        torch.testing.assert_close(out.class_index, model(x).argmax(1))
        assert hook_count(model) == 0
        torch.testing.assert_close(x, before, rtol=0, atol=0)

    @pytest.mark.parametrize("name", sorted(CAM_METHODS))
    def test_hooks_released_when_an_exception_is_raised(self, name):
        model = TinyCNN()
        method = CAM_METHODS[name]
        with pytest.raises(KeyError, match="inside"), method(model, model.act, model.fc) as cam:
            cam(torch.rand(1, 3, 8, 8))
            raise KeyError("inside")
        assert hook_count(model) == 0
        # An error from the CAM call itself (two targets for one image) propagates too.
        with pytest.raises(ValueError, match="2 targets"), method(model, model.act,
                                                                  model.fc) as cam:
            cam(torch.rand(1, 3, 8, 8), targets=[0, 1])
        assert hook_count(model) == 0

    @pytest.mark.parametrize("name", sorted(CAM_METHODS))
    def test_image_api_and_model_state(self, name):
        model = TinyCNN()
        classifier = tiny_classifier(model)
        model.train()  # a CAM runs it in eval mode, then gives the mode back
        for p in model.parameters():
            p.requires_grad_(False)  # frozen models still get Grad-CAMs
        image = np.random.default_rng(0).integers(0, 256, (41, 29, 3), dtype=np.uint8)
        before = image.copy()
        result = class_activation_map(image, classifier, method=name, target="c3")
        assert result.heatmap.shape == (41, 29) and result.class_index == 3
        assert result.class_name == "c3" and 0 < result.probability < 1
        np.testing.assert_array_equal(image, before)
        assert model.training
        assert hook_count(model) == 0

    def test_gradcam_equals_hand_computed(self):
        model = TinyCNN().eval()
        x = torch.rand(1, 3, 16, 16)
        feats = model.act(model.conv(x))  # (1, 8, 8, 8)
        expected = (model.fc.weight[2][:, None, None] / 64 * feats[0]).sum(0).clamp(min=0)
        expected = expected / expected.max()
        with GradCAM(model, model.act) as cam:  # no head needed
            out = cam(x, targets=2, size=(8, 8))
        torch.testing.assert_close(out.maps[0], expected.detach(), rtol=1e-4, atol=1e-5)

    def test_cam_needs_a_linear_head(self):
        model = TinyCNN()
        with pytest.raises(ModelError, match="gradcam"):
            CAM(model, model.act, None)
        assert hook_count(model) == 0

    def test_unknown_method_lists_choices(self):
        assert cam_method("GradCAM") is GradCAM
        with pytest.raises(ValueError, match="unknown CAM method 'scorecam'; choose from cam, "
                                             "gradcam"):
            cam_method("scorecam")

    def test_released_object_refuses(self):
        model = TinyCNN()
        cam = CAM(model, model.act, model.fc)
        cam.release()
        with pytest.raises(RuntimeError, match="released"):
            cam(torch.rand(1, 3, 8, 8))

    def test_bad_target(self):
        model = TinyCNN()
        with CAM(model, model.act, model.fc) as cam, pytest.raises(ValueError, match="range"):
            cam(torch.rand(1, 3, 8, 8), targets=7)

    def test_normalise_maps(self):
        raw = torch.tensor([[[-1.0, 2.0], [0.0, 4.0]], [[-1.0, -2.0], [-3.0, -4.0]]])
        out = normalise_maps(raw, (2, 2))
        torch.testing.assert_close(out[0], torch.tensor([[0.0, 0.5], [0.0, 1.0]]))
        assert float(out[1].abs().sum()) == 0  # all negative: no evidence anywhere


# --------------------------------------------------------------------------- from_config


class TestFromConfig:
    def test_lite0_from_safetensors(self, tmp_path, classifier):
        from safetensors.torch import save_file

        save_file(classifier.model.state_dict(), tmp_path / "lite0.safetensors")
        (tmp_path / "c.json").write_text(json.dumps({
            "checkpoint": "lite0.safetensors", "arch": "efficientnet_lite0",
            "feature_layer": "head_act", "head": "_fc", "classes": "imagenet",
            "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "size": 224}))
        loaded = Classifier.from_config(tmp_path / "c.json")
        image = photo("coffee")
        np.testing.assert_allclose(loaded.predict(image), classifier.predict(image), atol=1e-5)
        assert loaded.features_layer is loaded.model.head_act and loaded.head is loaded.model._fc

    def test_custom_module_callable(self, tmp_path):
        from safetensors.torch import save_file

        save_file(TinyCNN(seed=1).state_dict(), tmp_path / "tiny.safetensors")
        (tmp_path / "names.txt").write_text("a\nb\nc\nd\ne\n")
        config = {"checkpoint": str(tmp_path / "tiny.safetensors"),
                  "arch": "tests.test_cam:TinyCNN", "arch_args": {"seed": 5},
                  "feature_layer": "act", "head": "fc", "classes": "names.txt", "size": 32}
        (tmp_path / "tiny.json").write_text(json.dumps(config))
        loaded = Classifier.from_config(tmp_path / "tiny.json")
        assert loaded.names == ["a", "b", "c", "d", "e"]
        assert loaded.mean == (0.485, 0.456, 0.406)  # ImageNet's, the default for others
        # The checkpoint's weights (seed 1), not the constructor's (seed 5).
        torch.testing.assert_close(loaded.model.fc.weight, TinyCNN(seed=1).fc.weight)
        image = np.random.default_rng(1).integers(0, 256, (40, 50, 3), dtype=np.uint8)
        result = class_activation_map(image, loaded, target="d")
        assert result.heatmap.shape == (40, 50) and result.class_index == 3

    def test_errors(self, tmp_path):
        from safetensors.torch import save_file

        save_file(TinyCNN().state_dict(), tmp_path / "tiny.safetensors")
        base = {"checkpoint": str(tmp_path / "tiny.safetensors"), "feature_layer": "act",
                "head": "fc"}
        with pytest.raises(ModelError, match="do not match efficientnet_lite0"):
            Classifier.from_config(base)
        with pytest.raises(ModelError, match="no layer 'nope'"):
            Classifier.from_config({**base, "arch": "tests.test_cam:TinyCNN",
                                    "feature_layer": "nope"})
        with pytest.raises(ModelError, match="no such checkpoint"):
            Classifier.from_config({**base, "checkpoint": str(tmp_path / "x.safetensors")})
        with pytest.raises(ModelError, match="safetensors"):
            Classifier.from_config({**base, "checkpoint": str(tmp_path / "x.pth")})
        with pytest.raises(ModelError, match="unknown keys"):
            Classifier.from_config({**base, "layer": "act"})
        with pytest.raises(ModelError, match="no such classifier config"):
            Classifier.from_config(tmp_path / "missing.json")

    def test_timm_needs_timm(self, tmp_path):
        try:
            import timm  # noqa: F401
        except ImportError:
            pass
        else:
            pytest.skip("timm is installed here")
        from safetensors.torch import save_file

        save_file(TinyCNN().state_dict(), tmp_path / "t.safetensors")
        with pytest.raises(ModelError, match="pip install timm"):
            Classifier.from_config({"checkpoint": str(tmp_path / "t.safetensors"),
                                    "arch": "timm:resnet18", "feature_layer": "act",
                                    "head": "fc"})


# --------------------------------------------------------------------------- select


def two_blobs() -> np.ndarray:
    """A 100x200 map: a big warm blob (peak 0.8) left, a small hot one (peak 1.0) right."""
    heat = np.zeros((100, 200), np.float32)
    heat[20:60, 10:90] = 0.8  # 3200 px, mass 2560
    heat[40:50, 150:160] = 1.0  # 100 px, mass 100
    return heat


class TestRegionsFromHeatmap:
    def test_top_k_by_mass_and_peak(self):
        one = regions_from_heatmap(two_blobs(), threshold=0.5, label="x", probability=0.7)
        assert one.boxes == [(10, 20, 80, 40)] and one.scores == [pytest.approx(0.8)]
        assert one.mask.sum() == 3200 and one.labels == ["x"]
        peak = regions_from_heatmap(two_blobs(), rank="peak")
        assert peak.boxes == [(150, 40, 10, 10)]
        both = regions_from_heatmap(two_blobs(), top_k=None)
        assert both.boxes == [(10, 20, 80, 40), (150, 40, 10, 10)]

    def test_relative_and_absolute_threshold(self):
        # 0.9 of the peak (1.0) keeps only the small hot blob; absolute 0.9 too; 0.7 both.
        assert regions_from_heatmap(two_blobs(), threshold=0.9).boxes == [(150, 40, 10, 10)]
        assert regions_from_heatmap(two_blobs() / 2, threshold=0.9, relative=False).boxes == []
        assert len(regions_from_heatmap(two_blobs(), threshold=0.7, relative=False,
                                        top_k=None)) == 2

    def test_margin_and_min_area(self):
        grown = regions_from_heatmap(two_blobs(), margin=3)
        assert grown.boxes == [(7, 17, 86, 46)]
        assert grown.mask[17, 50] and not grown.mask[17, 7]  # disc dilation: round corners
        # The small blob is 0.5% of the image: min_area 0.006 drops it.
        kept = regions_from_heatmap(two_blobs(), top_k=None, min_area=0.006)
        assert kept.boxes == [(10, 20, 80, 40)]

    def test_to_json(self):
        regions = regions_from_heatmap(two_blobs(), top_k=None, label="cup", probability=0.9)
        data = json.loads(json.dumps(regions.to_json()))
        first = data["regions"][0]
        assert first["box"] == [10, 20, 80, 40] and first["area"] == 3200
        assert first["label"] == "cup" and first["probability"] == 0.9
        assert first["mass"] == pytest.approx(2560 / 2660, abs=1e-3)
        assert data["width"] == 200 and data["height"] == 100

    def test_empty_cases(self):
        assert len(regions_from_heatmap(np.zeros((10, 12)))) == 0
        gated = regions_from_heatmap(two_blobs(), min_score=0.5, probability=0.1)
        assert isinstance(gated, Regions) and gated.mask.shape == (100, 200)
        assert not gated.mask.any()
        with pytest.raises(ValueError, match="probability"):
            regions_from_heatmap(two_blobs(), min_score=0.5)
        with pytest.raises(ValueError, match=r"\(H, W\)"):
            regions_from_heatmap(np.zeros((2, 3, 4)))

    def test_heatmap_untouched(self):
        heat = two_blobs()
        before = heat.copy()
        regions_from_heatmap(heat, margin=2, top_k=None)
        np.testing.assert_array_equal(heat, before)
