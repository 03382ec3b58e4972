"""Tests of the video transforms: shapes, exact sampled indices and crop positions, determinism
under a seed, one random draw per sample, flow-aware flipping, normalisation values and layouts."""
import numpy as np
import pytest

from src.transforms import (CenterCrop, Compose, FormatShape, FrameDifference, MultiScaleCrop, Normalize,
                            RandomCrop, RandomHorizontalFlip, Resize, SegmentSampler, TemporalCenterCrop,
                            TemporalRandomCrop, TenCrop, ThreeCrop, UniformClipSampler, loop_pad)


def rng(seed=0):
    return np.random.default_rng(seed)


def coded_frames(num_frames, height, width, channels=3):
    """float32 frames whose values are all distinct: 100000*frame + 1000*row + 10*column + channel."""
    frame, row, col, chan = np.meshgrid(np.arange(num_frames), np.arange(height), np.arange(width),
                                        np.arange(channels), indexing="ij")
    return (frame * 100000 + row * 1000 + col * 10 + chan).astype(np.float32)


def repeated_frames(num_frames, height, width, channels=3, seed=1):
    """uint8 clip whose frames are all the same random image."""
    image = np.random.default_rng(seed).integers(0, 256, (height, width, channels), dtype=np.uint8)
    return np.repeat(image[None], num_frames, axis=0)


def sample(imgs, seed=0, modality="rgb", **extra):
    return dict(imgs=imgs, img_shape=imgs.shape[1:3], modality=modality, rng=rng(seed), **extra)


def run_seeds(transform, make_results, seeds=range(60)):
    return [transform(make_results(seed)) for seed in seeds]


# ----------------------------------------------------------------------------- temporal

def test_loop_pad_replays_video_from_start():
    np.testing.assert_array_equal(loop_pad(np.arange(8), 3), [0, 1, 2, 0, 1, 2, 0, 1])
    np.testing.assert_array_equal(loop_pad([0, 2, 4, 6, 8], 5), [0, 2, 4, 1, 3])
    assert loop_pad([1, 2], 5).dtype == np.int64
    with pytest.raises(ValueError, match="total_frames"):
        loop_pad([0], 0)


def test_temporal_random_crop_positions_and_determinism():
    crop = TemporalRandomCrop(clip_len=8, frame_interval=1)
    outputs = run_seeds(crop, lambda seed: {"total_frames": 20, "rng": rng(seed)})
    starts = set()
    for out in outputs:
        inds = out["frame_inds"]
        assert inds.dtype == np.int64 and inds.shape == (8,)
        np.testing.assert_array_equal(np.diff(inds), np.ones(7))
        assert 0 <= inds[0] <= 12 and not out["padded"]
        assert (out["clip_len"], out["num_clips"]) == (8, 1)
        starts.add(int(inds[0]))
    assert {0, 12} <= starts and len(starts) > 5  # the whole start range is used
    same = [crop({"total_frames": 100, "rng": rng(7)})["frame_inds"] for _ in range(2)]
    np.testing.assert_array_equal(same[0], same[1])
    different = {int(crop({"total_frames": 100, "rng": rng(seed)})["frame_inds"][0]) for seed in range(5)}
    assert len(different) > 1


def test_temporal_random_crop_with_interval_and_short_video():
    out = TemporalRandomCrop(4, frame_interval=3)({"total_frames": 40, "rng": rng(3)})
    np.testing.assert_array_equal(np.diff(out["frame_inds"]), [3, 3, 3])
    assert out["frame_inds"][-1] <= 39 and out["frame_interval"] == 3
    short = TemporalRandomCrop(8)({"total_frames": 5, "rng": rng(0)})
    np.testing.assert_array_equal(short["frame_inds"], [0, 1, 2, 3, 4, 0, 1, 2])
    assert short["padded"] is True
    exact = TemporalRandomCrop(8)({"total_frames": 8, "rng": rng(0)})
    np.testing.assert_array_equal(exact["frame_inds"], np.arange(8))
    assert exact["padded"] is False


def test_temporal_center_crop():
    out = TemporalCenterCrop(8)({"total_frames": 20})
    np.testing.assert_array_equal(out["frame_inds"], np.arange(6, 14))
    assert out["padded"] is False
    short = TemporalCenterCrop(8)({"total_frames": 5})
    np.testing.assert_array_equal(short["frame_inds"], [0, 1, 2, 3, 4, 0, 1, 2])
    assert short["padded"] is True
    with pytest.raises(ValueError, match="total_frames"):
        TemporalCenterCrop(8)({"total_frames": 0})


def test_uniform_clip_sampler_spans_video():
    out = UniformClipSampler(clip_len=16, num_clips=5)({"total_frames": 100})
    inds = out["frame_inds"].reshape(5, 16)
    assert out["frame_inds"].shape == (80,) and out["num_clips"] == 5 and out["clip_len"] == 16
    np.testing.assert_array_equal(inds[:, 0], [0, 21, 42, 63, 84])
    assert inds[-1, -1] == 99 and not out["padded"]
    np.testing.assert_array_equal(np.diff(inds, axis=1), np.ones((5, 15)))

    strided = UniformClipSampler(8, 4, frame_interval=2)({"total_frames": 100})["frame_inds"]
    assert strided[0] == 0 and strided[-1] == 99
    np.testing.assert_array_equal(np.diff(strided.reshape(4, 8), axis=1), np.full((4, 7), 2))

    centre = UniformClipSampler(16, 1)({"total_frames": 100})["frame_inds"]
    np.testing.assert_array_equal(centre, np.arange(42, 58))


def test_uniform_clip_sampler_short_video_loop_pads_every_clip():
    out = UniformClipSampler(16, 3)({"total_frames": 10})
    expected = np.tile(np.arange(16) % 10, 3)
    np.testing.assert_array_equal(out["frame_inds"], expected)
    assert out["padded"] is True


def test_segment_sampler_train_inside_segments():
    sampler = SegmentSampler(num_segments=4)
    offsets_seen = set()
    for out in run_seeds(sampler, lambda seed: {"total_frames": 100, "rng": rng(seed)}):
        inds = out["frame_inds"]
        assert inds.shape == (4,) and out["num_clips"] == 4 and out["clip_len"] == 1
        for segment, index in enumerate(inds):
            assert 25 * segment <= index < 25 * (segment + 1)
            offsets_seen.add(int(index) - 25 * segment)
        assert not out["padded"]
    assert len(offsets_seen) > 10  # random inside the segment, not a fixed offset

    snippets = SegmentSampler(3, new_length=5)
    for out in run_seeds(snippets, lambda seed: {"total_frames": 50, "rng": rng(seed)}):
        inds = out["frame_inds"].reshape(3, 5)
        np.testing.assert_array_equal(np.diff(inds, axis=1), np.ones((3, 4)))
        bounds = np.arange(4) * 46 / 3  # 46 possible snippet starts in 3 segments
        assert np.all(inds[:, 0] >= np.floor(bounds[:3])) and np.all(inds[:, 0] < bounds[1:])
        assert inds.max() <= 49

    first = SegmentSampler(4)({"total_frames": 100, "rng": rng(5)})["frame_inds"]
    again = SegmentSampler(4)({"total_frames": 100, "rng": rng(5)})["frame_inds"]
    other = SegmentSampler(4)({"total_frames": 100, "rng": rng(6)})["frame_inds"]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_segment_sampler_test_mode_centres():
    out = SegmentSampler(4, test_mode=True)({"total_frames": 100})
    np.testing.assert_array_equal(out["frame_inds"], [12, 37, 62, 87])
    # 46 snippet starts, segment length 11.5 -> centres 5.75, 17.25, 28.75, 40.25
    out = SegmentSampler(4, new_length=5, test_mode=True)({"total_frames": 50})
    expected = np.array([5, 17, 28, 40])[:, None] + np.arange(5)
    np.testing.assert_array_equal(out["frame_inds"], expected.reshape(-1))
    assert out["clip_len"] == 5 and out["num_clips"] == 4 and not out["padded"]


def test_segment_sampler_snippets_with_a_frame_interval():
    # snippets of 5 frames every 2nd frame cover 9 frames: 42 starts in 50 frames, 3 segments of 14
    out = SegmentSampler(3, new_length=5, test_mode=True, frame_interval=2)({"total_frames": 50})
    expected = np.array([7, 21, 35])[:, None] + 2 * np.arange(5)
    np.testing.assert_array_equal(out["frame_inds"], expected.reshape(-1))
    assert out["frame_interval"] == 2 and not out["padded"]
    for train in run_seeds(SegmentSampler(3, new_length=5, frame_interval=2),
                           lambda seed: {"total_frames": 50, "rng": rng(seed)}):
        inds = train["frame_inds"].reshape(3, 5)
        np.testing.assert_array_equal(np.diff(inds, axis=1), np.full((3, 4), 2))
        assert inds.max() <= 49 and not train["padded"]
    with pytest.raises(ValueError, match="frame_interval"):
        SegmentSampler(3, frame_interval=0)


def test_segment_sampler_flags_padding():
    for test_mode in (False, True):
        few = SegmentSampler(8, test_mode=test_mode)({"total_frames": 3, "rng": rng(0)})
        assert few["padded"] is True and few["frame_inds"].shape == (8,)
        assert few["frame_inds"].min() >= 0 and few["frame_inds"].max() <= 2
        assert np.all(np.diff(few["frame_inds"]) >= 0)
        tiny = SegmentSampler(3, new_length=5, test_mode=test_mode)({"total_frames": 2, "rng": rng(0)})
        np.testing.assert_array_equal(tiny["frame_inds"], np.tile([0, 1, 0, 1, 0], 3))
        assert tiny["padded"] is True
        enough = SegmentSampler(8, test_mode=test_mode)({"total_frames": 8, "rng": rng(0)})
        np.testing.assert_array_equal(enough["frame_inds"], np.arange(8))
        assert enough["padded"] is False


# ----------------------------------------------------------------------------- spatial

def test_resize_short_side_and_exact_size():
    imgs = repeated_frames(4, 30, 40)
    out = Resize(15)(sample(imgs))
    assert out["imgs"].shape == (4, 15, 20, 3) and out["img_shape"] == (15, 20)
    assert out["imgs"].dtype == np.uint8
    portrait = Resize(15)(sample(np.zeros((2, 40, 30, 2), np.uint8), modality="flow"))
    assert portrait["imgs"].shape == (2, 20, 15, 2)
    constant = np.full((2, 10, 14, 3), 77, np.uint8)
    np.testing.assert_array_equal(Resize(20)(sample(constant))["imgs"], 77)
    exact = Resize(size=(9, 11))(sample(coded_frames(2, 30, 40)))
    assert exact["imgs"].shape == (2, 9, 11, 3) and exact["imgs"].dtype == np.float32
    unchanged = Resize(0)(sample(imgs))
    assert unchanged["imgs"] is imgs
    with pytest.raises(ValueError, match="exactly one"):
        Resize(10, size=(5, 5))


def test_random_crop_position_and_one_draw_per_clip():
    imgs = coded_frames(3, 30, 50)
    out = RandomCrop(20)(sample(imgs, seed=4))
    top, left, height, width = out["crop_box"]
    assert out["imgs"].shape == (3, 20, 20, 3) and out["img_shape"] == (20, 20)
    np.testing.assert_array_equal(out["imgs"], imgs[:, top:top + 20, left:left + 20])
    assert 0 <= top <= 10 and 0 <= left <= 30

    for seed in range(10):
        same = RandomCrop((12, 16))(sample(repeated_frames(6, 30, 50), seed=seed))["imgs"]
        assert all(np.array_equal(frame, same[0]) for frame in same)

    boxes = [RandomCrop(20)(sample(imgs, seed=seed))["crop_box"] for seed in range(8)]
    assert len(set(boxes)) > 1
    repeat = [RandomCrop(20)(sample(imgs, seed=3))["crop_box"] for _ in range(2)]
    assert repeat[0] == repeat[1]


def test_center_crop_position():
    imgs = coded_frames(2, 30, 50)
    out = CenterCrop(20)(sample(imgs))
    np.testing.assert_array_equal(out["imgs"], imgs[:, 5:25, 15:35])
    assert out["crop_box"] == (5, 15, 20, 20) and out["img_shape"] == (20, 20)


@pytest.mark.parametrize("transform", [RandomCrop(40), CenterCrop(40), ThreeCrop(40), TenCrop(40)])
def test_crop_larger_than_frame_raises(transform):
    with pytest.raises(ValueError, match=r"crop 40x40.*frame 30x50"):
        transform(sample(np.zeros((2, 30, 50, 3), np.uint8)))


def test_multi_scale_crop_sizes_from_scale_set():
    scales = (1, .875, .75, .66)
    imgs = repeated_frames(4, 40, 60)
    crop_sizes = [int(40 * scale) for scale in scales]
    seen_pairs = set()
    for seed in range(80):
        out = MultiScaleCrop(16, scales=scales)(sample(imgs, seed=seed))
        assert out["imgs"].shape == (4, 16, 16, 3) and out["img_shape"] == (16, 16)
        assert out["imgs"].dtype == np.uint8
        assert all(np.array_equal(frame, out["imgs"][0]) for frame in out["imgs"])
        top, left, crop_h, crop_w = out["crop_box"]
        assert crop_h in crop_sizes and crop_w in crop_sizes
        assert abs(crop_sizes.index(crop_h) - crop_sizes.index(crop_w)) <= 1
        step_h, step_w = (40 - crop_h) // 4, (60 - crop_w) // 4
        assert (step_h == 0 and top == 0) or (top % step_h == 0 and top // step_h <= 4)
        assert (step_w == 0 and left == 0) or (left % step_w == 0 and left // step_w <= 4)
        seen_pairs.add((crop_h, crop_w))
    assert len(seen_pairs) > 4  # distorted aspect ratios are drawn too

    square = MultiScaleCrop(16, max_distort=0)
    for seed in range(20):
        _, _, crop_h, crop_w = square(sample(imgs, seed=seed))["crop_box"]
        assert crop_h == crop_w

    coded = coded_frames(2, 40, 60)
    free = MultiScaleCrop((12, 10), fix_crop=False)(sample(coded, seed=2))
    top, left, crop_h, crop_w = free["crop_box"]
    assert free["imgs"].shape == (2, 12, 10, 3)
    assert top + crop_h <= 40 and left + crop_w <= 60
    full = MultiScaleCrop((crop_h, crop_w), fix_crop=False)(sample(coded, seed=2))
    np.testing.assert_allclose(full["imgs"], coded[:, top:top + crop_h, left:left + crop_w])

    first = MultiScaleCrop(16)(sample(imgs, seed=9))
    second = MultiScaleCrop(16)(sample(imgs, seed=9))
    np.testing.assert_array_equal(first["imgs"], second["imgs"])
    assert len({MultiScaleCrop(16)(sample(imgs, seed=s))["crop_box"] for s in range(8)}) > 1


def test_horizontal_flip_rgb_and_determinism():
    imgs = coded_frames(3, 6, 8)
    flipped = RandomHorizontalFlip(p=1)(sample(imgs))
    assert flipped["flip"] is True
    np.testing.assert_array_equal(flipped["imgs"], imgs[:, :, ::-1])
    kept = RandomHorizontalFlip(p=0)(sample(imgs))
    assert kept["flip"] is False
    np.testing.assert_array_equal(kept["imgs"], imgs)

    flips = [RandomHorizontalFlip()(sample(imgs, seed=seed))["flip"] for seed in range(40)]
    assert 5 < sum(flips) < 35
    assert flips == [RandomHorizontalFlip()(sample(imgs, seed=seed))["flip"] for seed in range(40)]


def test_horizontal_flip_negates_flow_x():
    flow = np.random.default_rng(0).integers(0, 256, (3, 5, 7, 2), dtype=np.uint8)
    out = RandomHorizontalFlip(p=1)(sample(flow, modality="flow"))["imgs"]
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 0], 255 - flow[:, :, ::-1, 0])
    np.testing.assert_array_equal(out[..., 1], flow[:, :, ::-1, 1])
    # in flow units (v - 127.5) * 20 / 127.5 the flipped x is exactly the negated mirrored x
    to_units = lambda v: (v.astype(np.float64) - 127.5) * 20 / 127.5  # noqa: E731
    np.testing.assert_allclose(to_units(out[..., 0]), -to_units(flow[:, :, ::-1, 0]))

    centred = np.random.default_rng(1).uniform(-1, 1, (3, 5, 7, 2)).astype(np.float32)
    out = RandomHorizontalFlip(p=1)(sample(centred, modality="flow"))["imgs"]
    np.testing.assert_array_equal(out[..., 0], -centred[:, :, ::-1, 0])
    np.testing.assert_array_equal(out[..., 1], centred[:, :, ::-1, 1])


def test_three_crop_positions():
    landscape = coded_frames(2, 20, 40)
    out = ThreeCrop(20)(sample(landscape))
    assert out["imgs"].shape == (6, 20, 20, 3) and out["num_crops"] == 3 and out["img_shape"] == (20, 20)
    for crop, left in enumerate((0, 10, 20)):  # crop-major: crop k holds frames 2k, 2k+1
        np.testing.assert_array_equal(out["imgs"][2 * crop:2 * crop + 2], landscape[:, :, left:left + 20])

    portrait = coded_frames(1, 40, 20)
    out = ThreeCrop(20)(sample(portrait))
    for crop, top in enumerate((0, 10, 20)):
        np.testing.assert_array_equal(out["imgs"][crop], portrait[0, top:top + 20])

    taller_than_crop = coded_frames(1, 24, 40)
    out = ThreeCrop(20)(sample(taller_than_crop))
    for crop, left in enumerate((0, 10, 20)):
        np.testing.assert_array_equal(out["imgs"][crop], taller_than_crop[0, 2:22, left:left + 20])


def test_ten_crop_geometry():
    frames = coded_frames(2, 8, 12)
    out = TenCrop(4)(sample(frames))
    assert out["imgs"].shape == (20, 4, 4, 3) and out["num_crops"] == 10
    corners = [(0, 0), (0, 8), (4, 0), (4, 8), (2, 4)]  # TL, TR, BL, BR, centre
    for crop, (top, left) in enumerate(corners):
        original = frames[:, top:top + 4, left:left + 4]
        np.testing.assert_array_equal(out["imgs"][2 * crop:2 * crop + 2], original)
        np.testing.assert_array_equal(out["imgs"][2 * (crop + 5):2 * (crop + 5) + 2], original[:, :, ::-1])

    flow = np.random.default_rng(2).integers(0, 256, (1, 8, 12, 2), dtype=np.uint8)
    out = TenCrop(4)(sample(flow, modality="flow"))["imgs"]
    for crop in range(5):
        np.testing.assert_array_equal(out[crop + 5, ..., 0], 255 - out[crop, :, ::-1, 0])
        np.testing.assert_array_equal(out[crop + 5, ..., 1], out[crop, :, ::-1, 1])


def test_normalize_values():
    imgs = np.array([0, 51, 127, 255], np.uint8).reshape(1, 1, 4, 1).repeat(3, axis=3)
    out = Normalize("minus_one_to_one")(sample(imgs))["imgs"]
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0, :, 0], [-1, 51 / 127.5 - 1, 127 / 127.5 - 1, 1], atol=1e-6)
    assert out.min() == -1 and out.max() == 1
    half = Normalize("minus_one_to_one")(sample(np.full((1, 1, 1, 2), 127.5, np.float32), modality="flow"))["imgs"]
    np.testing.assert_allclose(half, 0, atol=1e-7)

    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    rgb = np.random.default_rng(3).integers(0, 256, (2, 3, 4, 3), dtype=np.uint8)
    out = Normalize("meanstd", mean, std)(sample(rgb))["imgs"]
    expected = (rgb.astype(np.float64) / 255 - np.array(mean)) / np.array(std)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(Normalize("meanstd")(sample(rgb))["imgs"], expected, rtol=1e-5, atol=1e-5)

    flow = rgb[..., :2]
    one = Normalize("meanstd", [0.5], [0.25])(sample(flow, modality="flow"))["imgs"]
    np.testing.assert_allclose(one, (flow / 255 - 0.5) / 0.25, rtol=1e-5, atol=1e-5)
    two = Normalize("meanstd", [0.4, 0.6], [0.2, 0.3])(sample(flow, modality="flow"))["imgs"]
    np.testing.assert_allclose(two, (flow / 255 - [0.4, 0.6]) / [0.2, 0.3], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="mean has 3 values.*2 channels"):
        Normalize("meanstd", mean, std)(sample(flow, modality="flow"))


# ----------------------------------------------------------------------------- formatting

def layout_frames(num_crops, num_clips, clip_len, channels, height=3, width=4):
    """Frames whose value at channel c is 1000*crop + 100*clip + 10*t + c (crop/clip/time-major)."""
    crop, clip, time, chan = np.meshgrid(np.arange(num_crops), np.arange(num_clips), np.arange(clip_len),
                                         np.arange(channels), indexing="ij")
    codes = (1000 * crop + 100 * clip + 10 * time + chan).reshape(-1, 1, 1, channels)
    dtype = np.uint8 if codes.max() < 256 else np.float32
    return np.broadcast_to(codes, (codes.shape[0], height, width, channels)).astype(dtype)


def test_format_shape_ncthw():
    imgs = layout_frames(num_crops=3, num_clips=2, clip_len=4, channels=3)
    out = FormatShape("NCTHW")(dict(imgs=imgs, num_crops=3, num_clips=2, clip_len=4))
    result = out["imgs"]
    assert result.shape == (6, 3, 4, 3, 4) and out["num_views"] == 6
    assert result.dtype == np.float32 and result.flags["C_CONTIGUOUS"]
    for crop in range(3):
        for clip in range(2):
            for time in range(4):
                for chan in range(3):
                    expected = 1000 * crop + 100 * clip + 10 * time + chan
                    assert np.all(result[crop * 2 + clip, chan, time] == expected)


def test_format_shape_tsn_flow_channel_order():
    imgs = layout_frames(num_crops=2, num_clips=3, clip_len=5, channels=2)
    out = FormatShape("NSCHW")(dict(imgs=imgs, num_crops=2, num_clips=3, clip_len=5, modality="flow"))
    result = out["imgs"]
    assert result.shape == (2, 3, 10, 3, 4) and out["num_views"] == 2
    assert result.dtype == np.float32 and result.flags["C_CONTIGUOUS"]
    for crop in range(2):
        for segment in range(3):
            # channels x1, y1, x2, y2, ...: time 10*t plus channel 0 (x) / 1 (y)
            expected = [1000 * crop + 100 * segment + 10 * t + c for t in range(5) for c in range(2)]
            np.testing.assert_array_equal(result[crop, segment, :, 0, 0], expected)
    rgb = FormatShape("NSCHW")(dict(imgs=layout_frames(1, 3, 1, 3), num_clips=3, clip_len=1))
    assert rgb["imgs"].shape == (1, 3, 3, 3, 4) and rgb["num_views"] == 1


def test_format_shape_rejects_wrong_frame_count():
    with pytest.raises(ValueError, match="7 frames"):
        FormatShape("NCTHW")(dict(imgs=np.zeros((7, 2, 2, 3), np.uint8), num_clips=2, clip_len=4))
    with pytest.raises(ValueError, match="layout"):
        FormatShape("NHWC")


def test_frame_difference_takes_consecutive_differences_within_each_clip():
    # codes 1000*crop + 100*clip + 10*t + c: every difference inside a clip is 10, none crosses clips
    imgs = layout_frames(num_crops=2, num_clips=3, clip_len=4, channels=3).astype(np.float32)
    imgs += np.arange(36, dtype=np.float32).reshape(1, 3, 4, 3)  # a still background cancels
    out = FrameDifference()(dict(imgs=imgs, num_crops=2, num_clips=3, clip_len=4))
    assert out["clip_len"] == 3 and out["imgs"].shape == (18, 3, 4, 3)
    assert out["imgs"].dtype == np.float32
    np.testing.assert_array_equal(out["imgs"], np.full((18, 3, 4, 3), 10.0, np.float32))
    tsn = FormatShape("NSCHW")(out)
    assert tsn["imgs"].shape == (2, 3, 9, 3, 4)  # 3 differences x 3 colour channels per segment


def test_frame_difference_rejects_single_frames_and_ragged_stacks():
    with pytest.raises(ValueError, match="at least 2 frames"):
        FrameDifference()(dict(imgs=np.zeros((3, 2, 2, 3), np.float32), num_clips=3, clip_len=1))
    with pytest.raises(ValueError, match="not a multiple of clip_len 3"):
        FrameDifference()(dict(imgs=np.zeros((7, 2, 2, 3), np.float32), num_clips=2, clip_len=3))


# ----------------------------------------------------------------------------- pipelines

def test_compose_pipeline_is_deterministic_and_repr_is_readable():
    video = np.random.default_rng(0).integers(0, 256, (30, 24, 32, 3), dtype=np.uint8)

    def load(results):  # stands in for the data layer's frame loader
        results["imgs"] = video[results["frame_inds"]]
        results["img_shape"] = video.shape[1:3]
        return results

    pipeline = Compose([TemporalRandomCrop(8, 2), load, Resize(20), MultiScaleCrop(16),
                        RandomHorizontalFlip(), Normalize("minus_one_to_one"), FormatShape("NCTHW")])
    runs = [pipeline({"total_frames": 30, "modality": "rgb", "rng": rng(seed)}) for seed in (1, 1, 2)]
    assert runs[0]["imgs"].shape == (1, 3, 8, 16, 16)
    np.testing.assert_array_equal(runs[0]["imgs"], runs[1]["imgs"])
    assert not np.array_equal(runs[0]["imgs"], runs[2]["imgs"])
    text = repr(pipeline)
    assert text.startswith("Compose([") and "TemporalRandomCrop(clip_len=8, frame_interval=2)" in text
    assert "MultiScaleCrop(size=(16, 16)" in text and "FormatShape(layout='NCTHW')" in text

    test_pipeline = Compose([UniformClipSampler(8, 2), load, Resize(16), TenCrop(16), Normalize("minus_one_to_one"),
                             FormatShape("NCTHW")])
    out = test_pipeline({"total_frames": 30, "modality": "rgb"})
    assert out["imgs"].shape == (20, 3, 8, 16, 16) and out["num_views"] == 20


def test_random_transform_without_rng_names_the_fix():
    with pytest.raises(KeyError, match="default_rng"):
        RandomCrop(4)(dict(imgs=np.zeros((1, 8, 8, 3), np.uint8)))
    with pytest.raises(TypeError, match="results dict"):
        Compose([lambda results: None])({})


@pytest.mark.parametrize("layout,modality,kind", [("NCTHW", "rgb", "minus_one_to_one"), ("NCTHW", "rgb", "meanstd"),
                                                  ("NSCHW", "rgb", "meanstd"), ("NSCHW", "flow", "meanstd"),
                                                  ("NCTHW", "flow", "minus_one_to_one")])
def test_formatting_uint8_frames_before_normalising_gives_the_same_floats(layout, modality, kind):
    channels = 2 if modality == "flow" else 3
    frames = np.random.default_rng(0).integers(0, 256, (2 * 3 * 4, 5, 6, channels), dtype=np.uint8)
    mean, std = ([0.4, 0.6], [0.2, 0.3]) if modality == "flow" else (None, None)

    def sample():
        return dict(imgs=frames.copy(), num_crops=2, num_clips=3, clip_len=4, modality=modality)
    normalize = Normalize(kind, mean, std)
    before = FormatShape(layout)(normalize(sample()))["imgs"]
    after = normalize(FormatShape(layout)(sample()))["imgs"]
    assert after.dtype == np.float32 and after.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(after, before)  # the same float operations on the same values
