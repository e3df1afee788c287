"""Training code: split, augmentation, losses, and tiny-config trainers."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.models.codec.model import CodecConfig
from engine.training.augment import NO_AUGMENT, AugmentConfig, Augmenter, speed_perturb
from engine.training.common import load_config
from engine.training.data import (
    AudioBank,
    list_utterances,
    parse_name,
    read_split,
    speaker_split,
    write_split,
)
from engine.training.losses import MultiResolutionSTFTLoss, ReconstructionLoss, mel_filterbank
from engine.training.train_codec import DEFAULTS as CODEC_DEFAULTS
from engine.training.train_codec import CodecTrainer, stitch
from engine.training.train_vocos import DEFAULTS as VOCOS_DEFAULTS
from engine.training.train_vocos import VocosTrainer

SR = 16_000
CORPORA = {"librispeech": 12, "speechcommands": 10, "fsdd8k": 3, "libritts": 2}


def _voice(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """A crude voiced sound: harmonics of a gliding f0 with an envelope, plus noise."""
    t = np.arange(int(seconds * SR)) / SR
    f0 = rng.uniform(90, 250) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(1, 4) * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    env = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(2, 5) * t)
    return (0.2 * x * env + 0.003 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("speech")
    train, noise = root / "train", root / "noise"
    train.mkdir()
    noise.mkdir()
    rng = np.random.default_rng(0)
    for corpus, n_spk in CORPORA.items():
        for s in range(n_spk):
            for u in range(2):
                x = _voice(rng, 0.5)
                sf.write(train / f"{corpus}_spk{s}_u{u}.flac", x, SR, subtype="PCM_16")
    sf.write(noise / "bg_hum.flac", 0.1 * rng.standard_normal(SR).astype(np.float32), SR)
    return train, noise


# --- data ----------------------------------------------------------------------
def test_parse_name_splits_three_parts_and_rejects_others():
    u = parse_name("/x/librispeech_1234_5678-0001.flac")
    assert (u.corpus, u.speaker, u.utt_id) == ("librispeech", "1234", "5678-0001")
    with pytest.raises(ValueError):
        parse_name("noseparators.flac")


def test_split_holds_out_whole_speakers_deterministically(corpus, tmp_path):
    train_dir, _ = corpus
    utts = list_utterances(train_dir)
    split = speaker_split(utts, seed=0)
    spk = {u.path.name: u.speaker_key for u in utts}
    train_spk = {spk[n] for n in split["train"]}
    val_spk = {spk[n] for n in split["val"]}
    assert train_spk.isdisjoint(val_spk)
    assert len(split["train"]) + len(split["val"]) == len(utts)
    held = {k.split("/")[0] for k in val_spk}
    assert {"librispeech", "speechcommands", "fsdd8k"} <= held
    assert "libritts" not in held
    assert speaker_split(list(reversed(utts)), seed=0)["val"] == split["val"]
    write_split(split, tmp_path / "split.json")
    assert read_split(tmp_path / "split.json") == split


def test_audio_bank_crops_are_in_range_and_padded(corpus):
    train_dir, _ = corpus
    bank = AudioBank(sorted(train_dir.glob("*.flac"))[:3])
    rng = np.random.default_rng(0)
    x = bank.batch(rng, 4, 480)
    assert x.shape == (4, 480) and x.dtype == np.float32
    long = bank.crop(rng, 2 * SR)  # longer than every file: zero tail
    assert np.all(long[SR:] == 0) and np.any(long != 0)
    assert bank.summary()["fsdd8k"]["files"] == 3


# --- augmentation -------------------------------------------------------------
def test_augmenter_keeps_shape_dtype_finite_and_is_seeded(corpus):
    train_dir, noise_dir = corpus
    bank = AudioBank(sorted(train_dir.glob("*.flac")))
    noise = AudioBank(sorted(noise_dir.glob("*.flac")))
    cfg = AugmentConfig(p_speed=1.0, p_noise=1.0, p_white=1.0)
    a = Augmenter(bank, noise, cfg, seed=3).batch(8, 480)
    b = Augmenter(bank, noise, cfg, seed=3).batch(8, 480)
    assert a.shape == (8, 480) and a.dtype == np.float32
    assert np.all(np.isfinite(a)) and np.max(np.abs(a)) <= cfg.peak_limit + 1e-6
    np.testing.assert_array_equal(a, b)
    plain = Augmenter(bank, None, NO_AUGMENT, seed=3).batch(8, 480)
    assert not np.allclose(plain, a)


def test_speed_perturb_shifts_pitch_by_the_factor():
    t = np.arange(SR) / SR
    x = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    y = speed_perturb(x, 1.05, 8000)
    peak_hz = np.argmax(np.abs(np.fft.rfft(y * np.hanning(8000)))) * SR / 8000
    assert y.shape == (8000,) and y.dtype == np.float32
    assert abs(peak_hz - 1050) <= 4
    with pytest.raises(ValueError):
        speed_perturb(x, 0.0, 100)


def test_augment_config_rejects_bad_values():
    with pytest.raises(ValueError):
        AugmentConfig(p_noise=1.5)
    with pytest.raises(ValueError):
        AugmentConfig(max_speed=0.7)


# --- losses ---------------------------------------------------------------------
def test_mel_filterbank_matches_librosa_slaney():
    librosa = pytest.importorskip("librosa")
    ref = librosa.filters.mel(sr=SR, n_fft=512, n_mels=40)
    np.testing.assert_allclose(mel_filterbank(512, 40).numpy(), ref, atol=1e-6)


def test_losses_are_zero_for_identical_and_grow_with_error():
    torch.manual_seed(0)
    x = torch.randn(2, 4000) * 0.1
    loss = ReconstructionLoss(fft_sizes=(64, 256), mel_scales=((256, 32),))
    same, _ = loss(x, x)
    small, _ = loss(x + 0.001 * torch.randn_like(x), x)
    big, parts = loss(x + 0.05 * torch.randn_like(x), x)
    assert float(same) < 1e-3 < float(small) < float(big)
    assert set(parts) == {"mel", "stft", "wave"}
    with pytest.raises(ValueError):
        MultiResolutionSTFTLoss(fft_sizes=())


# --- trainers ------------------------------------------------------------------
def _codec_cfg(train_dir: Path, noise_dir: Path) -> dict:
    cfg = load_config(None, CODEC_DEFAULTS)
    cfg.update(
        data_dir=str(train_dir),
        noise_dir=str(noise_dir),
        model={
            "enc_base": 4,
            "latent_dim": 8,
            "d_model": 16,
            "n_heads": 2,
            "n_transformer": 1,
            "ffn_dim": 32,
            "codebook_size": 16,
            "output_padding": True,
            "dropout": 0.0,
        },
        batch_segments=4,
        hops_per_segment=4,
        lr=3e-3,
        warmup=1,
        steps=1000,
        fft_sizes=[64, 128],
        mel_scales=[[128, 16]],
        val_segments=8,
        disc={"periods": [2, 3], "fft_sizes": [64], "channels": 4},
        restart_every=5,
        log_every=1000,
        val_every=1000,
    )
    return cfg


def _vocos_cfg(train_dir: Path, noise_dir: Path) -> dict:
    cfg = load_config(None, VOCOS_DEFAULTS)
    cfg.update(
        data_dir=str(train_dir),
        noise_dir=str(noise_dir),
        model={
            "n_mels": 16,
            "dim": 16,
            "intermediate_dim": 32,
            "n_layers": 1,
            "n_fft": 256,
            "hop": 64,
        },
        batch=4,
        frames=12,
        skip_frames=4,
        target_delay=192,
        lr=3e-3,
        warmup=1,
        steps=1000,
        fft_sizes=[64, 128],
        mel_scales=[[128, 16]],
        val_segments=8,
        disc={"periods": [2, 3], "fft_sizes": [64], "channels": 4},
        log_every=1000,
        val_every=1000,
    )
    return cfg


@pytest.mark.parametrize("make", ["codec", "codec_reuse", "vocos"])
def test_a_few_steps_lower_the_validation_loss(corpus, tmp_path, make):
    cfg = _codec_cfg(*corpus) if make.startswith("codec") else _vocos_cfg(*corpus)
    if make == "codec_reuse":
        cfg["model"]["stream"] = "reuse"
    trainer = (CodecTrainer if make.startswith("codec") else VocosTrainer)(cfg, tmp_path)
    before = trainer.run_validation()["val_loss"]
    metrics = [trainer.train_step() for _ in range(25)]
    after = trainer.run_validation()["val_loss"]
    assert all(np.isfinite(m["loss"]) for m in metrics)
    assert after < 0.9 * before
    assert (tmp_path / "best.pt").exists() and (tmp_path / "split.json").exists()


def test_codec_trainer_reports_codebook_usage(corpus, tmp_path):
    trainer = CodecTrainer(_codec_cfg(*corpus), tmp_path)
    for _ in range(5):
        trainer.train_step()
    metrics = trainer.run_validation()
    for i in range(2):
        assert 1.0 <= metrics[f"ppl{i}"] <= 16.0
        assert 0.0 < metrics[f"used{i}"] <= 1.0


@pytest.mark.parametrize("make", ["codec", "vocos"])
def test_resume_gives_identical_next_step(corpus, tmp_path, make):
    cfg = _codec_cfg(*corpus) if make == "codec" else _vocos_cfg(*corpus)
    cfg["adv_weight"] = 1.0  # the discriminators' state must round-trip too
    cls = CodecTrainer if make == "codec" else VocosTrainer
    a = cls(cfg, tmp_path)
    a.run(steps=3)  # saves last.pt at the final step
    expected = a.train_step()
    expected_params = [p.detach().clone() for p in a.model.parameters()]

    b = cls(cfg, tmp_path)
    assert b.resume() and b.step == 3
    got = b.train_step()
    assert got == expected and got["d_loss"] > 0 and got["fm"] > 0
    for p, q in zip(b.model.parameters(), expected_params, strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert (tmp_path / "log.csv").read_text().count("\n") >= 2


def test_reuse_training_decodes_each_window_from_the_previous_hops_sent_frames(corpus, tmp_path):
    """Window k's decoder input is the sent (last) frames of windows k-1 and k, as live."""
    cfg = _codec_cfg(*corpus)
    cfg["model"]["stream"] = "reuse"
    trainer = CodecTrainer(cfg, tmp_path / "run")
    x = trainer.val_batch[:2]  # (2, 240 * 5): 4 windows, the first only context
    with torch.no_grad():
        y, out, windows = trainer.forward_segments(x)
        assert y.shape == (2, 3, 480) and windows.shape == (2, 3, 480)
        assert out.codes.shape == (2 * 4, 2, 10)  # only the 10 sent frames are quantised
        sent = out.codes.reshape(2, 4, 2, 10)
        for k in range(1, 4):
            codes = torch.cat([sent[:, k - 1], sent[:, k]], dim=2)
            torch.testing.assert_close(trainer.model.decode(codes), y[:, k - 1])
    from engine.models.codec.checkpoint import load_codec

    trainer.run(steps=1)
    path = trainer.export(tmp_path / "reuse.safetensors", source="last.pt")
    assert load_codec(path).config.stream == "reuse"


def test_codec_export_loads_back_with_its_config(corpus, tmp_path):
    from engine.models.codec.checkpoint import load_codec

    trainer = CodecTrainer(_codec_cfg(*corpus), tmp_path / "run")
    trainer.run(steps=2)
    trainer.run_validation()
    path = trainer.export(tmp_path / "codec.safetensors")
    model = load_codec(path)
    assert model.config.output_padding is True
    assert model.weights_info.output_delay == trainer.learned_delay()
    assert 0 <= trainer.learned_delay() < 240
    x = torch.randn(2, 480) * 0.1
    trainer.model.eval()
    torch.testing.assert_close(model.eval()(x).audio, trainer.model(x).audio)


def test_vocos_export_loads_back(corpus, tmp_path):
    ckpt = pytest.importorskip("engine.models.vocos.checkpoint")
    trainer = VocosTrainer(_vocos_cfg(*corpus), tmp_path / "run")
    trainer.run(steps=2)
    trainer.run_validation()
    path = trainer.export(tmp_path / "vocos.safetensors")
    model = ckpt.load_vocos(path)
    x = torch.randn(1, 64 * 10) * 0.1
    trainer.model.eval()
    torch.testing.assert_close(model.audio_offline(x), trainer.model.audio_offline(x))


def test_vocos_target_is_the_input_delayed(corpus, tmp_path):
    cfg = _vocos_cfg(*corpus)
    trainer = VocosTrainer(cfg, tmp_path)
    x = torch.arange(trainer.crop_length, dtype=torch.float32).repeat(2, 1) / 1e4
    y, target, _ = trainer.generate(x)
    skip = cfg["skip_frames"] * 64
    assert y.shape == target.shape == (2, (cfg["frames"] - cfg["skip_frames"]) * 64)
    # input sample i of the generated part is x[192 + i]; the target at i is x[i]
    torch.testing.assert_close(target[0, 0], x[0, skip])
    cfg["target_delay"] = 193
    with pytest.raises(ValueError):
        VocosTrainer(cfg, tmp_path)


def test_config_rejects_unknown_keys(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"nonsense": 1}')
    with pytest.raises(ValueError):
        load_config(path, CODEC_DEFAULTS)


def _tiny_codec_file(corpus, tmp_path) -> Path:
    trainer = CodecTrainer(_codec_cfg(*corpus), tmp_path / "codec_run")
    trainer.run(steps=1)
    trainer.run_validation()
    return trainer.export(tmp_path / "codec.safetensors")


def _declare_delay(path: Path, delay: int) -> None:
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), "pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    info = json.loads(meta["streamvox"])
    info["info"]["output_delay_samples"] = delay
    save_file(tensors, str(path), {"streamvox": json.dumps(info)})


def test_codec_round_trip_matches_the_streaming_stage(corpus, tmp_path):
    from engine.models.codec.checkpoint import load_codec
    from engine.models.codec.stage import CodecStage
    from engine.training.codec_input import CodecRoundTrip

    path = _tiny_codec_file(corpus, tmp_path)
    _declare_delay(path, 5)
    x = torch.from_numpy(AudioBank.from_names(corpus[0], ["fsdd8k_spk0_u0.flac"]).utterance(0))
    got = CodecRoundTrip.from_file(str(path))(torch.stack([x[:3000], x[1000:4000]]))
    stage = CodecStage(load_codec(path))
    for row, start in ((0, 0), (1, 1000)):
        want = stage.offline(x[start : start + 3000].numpy())
        np.testing.assert_allclose(got[row].numpy(), want, atol=1e-5)


def test_vocos_codec_input_changes_only_the_heard_rows(corpus, tmp_path):
    cfg = _vocos_cfg(*corpus)
    cfg["codec_input"] = {"weights": str(_tiny_codec_file(corpus, tmp_path)), "fraction": 0.5}
    trainer = VocosTrainer(cfg, tmp_path / "run")
    assert trainer.codec_rows == 2
    x = torch.randn(4, trainer.crop_length) * 0.1
    heard = trainer.codec_heard(x)
    assert not torch.allclose(heard[:2], x[:2])
    torch.testing.assert_close(heard[2:], x[2:], rtol=0, atol=0)
    metrics = trainer.run_validation()
    assert np.isfinite(metrics["val_codec_loss"])
    assert metrics["val_codec_loss"] != metrics["val_loss"]
    cfg["codec_input"]["fraction"] = 1.5
    with pytest.raises(ValueError):
        VocosTrainer(cfg, tmp_path / "bad")


def test_vocos_init_weights_starts_from_a_trained_run(corpus, tmp_path):
    cfg = _vocos_cfg(*corpus)
    first = VocosTrainer(cfg, tmp_path / "a")
    first.run(steps=3)
    cfg["init_weights"] = str(tmp_path / "a" / "last.pt")
    second = VocosTrainer(cfg, tmp_path / "b")
    for p, q in zip(first.model.parameters(), second.model.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert second.step == 0  # weights only: a fresh run (optimiser, step, schedule)
    cfg["model"] = {**cfg["model"], "dim": 24}
    with pytest.raises(RuntimeError):
        VocosTrainer(cfg, tmp_path / "c")


def test_codec_init_weights_keeps_the_trained_codebooks(corpus, tmp_path):
    from engine.models.codec.checkpoint import load_codec

    path = _tiny_codec_file(corpus, tmp_path)
    trained = load_codec(path)
    cfg = _codec_cfg(*corpus)
    cfg["init_weights"] = str(path)
    trainer = CodecTrainer(cfg, tmp_path / "ft")
    for p, q in zip(trained.parameters(), trainer.model.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    books = [q.embedding.weight.detach().clone() for q in trainer.model.quantizers]
    assert all(b.initialised for b in trainer.codebooks)
    trainer.train_step()  # no data-dependent re-init: rows move only by a small EMA step
    for book, before in zip(trainer.codebooks, books, strict=True):
        moved = (book.weight - before).norm(dim=1) / before.norm(dim=1).clamp_min(1e-6)
        assert 0.0 < float(moved.max()) < 0.5
    cfg["model"] = {**cfg["model"], "ffn_dim": 48}
    with pytest.raises(ValueError, match="does not fit"):
        CodecTrainer(cfg, tmp_path / "bad")


def test_a_codec_is_retrained_for_a_seam_fade_and_the_export_records_it(corpus, tmp_path):
    """A hard-cut codec fine-tunes into one whose loss hears the faded seams, as the stage plays."""
    from engine.models.codec.checkpoint import load_codec
    from engine.models.codec.stage import CodecStage

    path = _tiny_codec_file(corpus, tmp_path)
    cfg = _codec_cfg(*corpus)
    cfg["init_weights"] = str(path)
    cfg["model"] = {**cfg["model"], "seam_fade": 32}
    trainer = CodecTrainer(cfg, tmp_path / "seam")
    x = trainer.val_batch[:2]
    y, _, _ = trainer.forward_segments(x)
    faded = stitch(y, 32)
    assert not torch.equal(faded, stitch(y))  # the fade reaches the loss
    trainer.run(steps=1)
    trainer.run_validation()
    out = load_codec(trainer.export(tmp_path / "seam.safetensors"))
    assert out.config.seam_fade == 32 and CodecStage(out).seam == 32


def test_a_time_schedule_anneals_over_training_minutes(corpus, tmp_path):
    cfg = {**_codec_cfg(*corpus), "steps": 1000, "schedule_minutes": 10}
    trainer = CodecTrainer(cfg, tmp_path / "timed")
    trainer.step, trainer.wall_s = 7, 300.0  # half the minutes, whatever the step
    assert trainer.schedule_step() == 500
    trainer.wall_s = 1e6
    assert trainer.schedule_step() == 1000
    trainer.cfg["schedule_minutes"] = 0
    assert trainer.schedule_step() == 7


def test_the_ceiling_tool_quantised_equals_the_reuse_stage_and_continuous_differs():
    from engine.models.codec.checkpoint import seeded_codec
    from engine.models.codec.stage import CodecStage
    from engine.training.codec.ceiling import reuse_output

    model = seeded_codec(seed=4, config=CodecConfig(output_padding=True, stream="reuse")).eval()
    x = (np.random.default_rng(2).standard_normal(5000) * 0.1).astype(np.float32)
    quantised = reuse_output(model, x, quantise=True)
    assert np.max(np.abs(quantised - CodecStage(model).offline(x))) < 1e-5
    assert np.max(np.abs(reuse_output(model, x, quantise=False) - quantised)) > 1e-3


def test_widening_the_decoder_keeps_what_the_codec_computes():
    from engine.models.codec.checkpoint import seeded_codec
    from engine.training.codec.widen import widen_decoder

    narrow = seeded_codec(seed=3, config=CodecConfig(output_padding=True)).eval()
    wide = widen_decoder(narrow, (96, 64, 48, 32), seed=1).eval()
    assert wide.config.decoder_channels == (96, 64, 48, 32)
    assert wide.decoder_tconvs[3].weight.shape == (48, 32, 3)
    x = torch.randn(4, 480, generator=torch.Generator().manual_seed(0)) * 0.2
    with torch.no_grad():
        torch.testing.assert_close(wide(x).audio, narrow(x).audio, rtol=0, atol=1e-5)
    copies = wide.decoder_tconvs[0].weight[:, 64:]  # new channels copy old ones...
    assert any(torch.equal(copies[:, 0], wide.decoder_tconvs[0].weight[:, j]) for j in range(64))
    split = wide.decoder_tconvs[1].weight  # ...and the next layer splits them unequally
    assert not torch.allclose(split[:64], split[:64].mean(0, keepdim=True).expand_as(split[:64]))
    with pytest.raises(ValueError, match="can only widen"):
        widen_decoder(narrow, (32, 32, 16, 16))


def test_codec_trainer_widens_a_narrower_trained_codec(corpus, tmp_path):
    from engine.models.codec.checkpoint import load_codec

    path = _tiny_codec_file(corpus, tmp_path)
    trained = load_codec(path).eval()
    cfg = _codec_cfg(*corpus)
    cfg["init_weights"] = str(path)
    cfg["model"] = {**cfg["model"], "decoder_widths": [96, 64, 32, 32]}
    trainer = CodecTrainer(cfg, tmp_path / "wide")
    model = trainer.model.eval()
    assert model.config.decoder_channels == (96, 64, 32, 32)
    x = torch.randn(2, 480, generator=torch.Generator().manual_seed(1)) * 0.2
    with torch.no_grad():
        torch.testing.assert_close(model(x).audio, trained(x).audio, rtol=0, atol=1e-5)
    trainer.run(steps=1)
    back = load_codec(trainer.export(tmp_path / "wide.safetensors", source="last.pt"))
    assert back.config.decoder_channels == (96, 64, 32, 32)
    assert back.config.to_dict()["decoder_widths"] == [96, 64, 32, 32]


def test_vocos_partial_init_moves_the_backbone_to_another_frame_size(corpus, tmp_path):
    cfg = _vocos_cfg(*corpus)
    first = VocosTrainer(cfg, tmp_path / "a")
    first.run(steps=2)
    cfg["init_weights"] = str(tmp_path / "a" / "last.pt")
    cfg["model"] = {**cfg["model"], "n_fft": 128, "hop": 32}
    cfg["target_delay"] = 96
    with pytest.raises(RuntimeError):  # the head's shape differs: not without init_partial
        VocosTrainer(cfg, tmp_path / "b")
    cfg["init_partial"] = True
    second = VocosTrainer(cfg, tmp_path / "c")
    old, new = first.model.state_dict(), second.model.state_dict()
    assert [k for k in new if k.startswith("backbone")] == [
        k for k in old if k.startswith("backbone")
    ]
    for k, v in new.items():
        if k.startswith("backbone"):
            torch.testing.assert_close(v, old[k], rtol=0, atol=0)
    assert new["head.out.weight"].shape != old["head.out.weight"].shape


@pytest.mark.parametrize("reset", [False, True])
def test_reset_best_lets_a_resumed_run_with_another_loss_pick_its_own_best(corpus, tmp_path, reset):
    import json

    from engine.training.train_codec import main

    cfg = _codec_cfg(*corpus)
    CodecTrainer(cfg, tmp_path / "run").run(steps=2)  # best.pt at step 2
    cfg["loss"] = {**cfg["loss"], "mel_weight": 1000.0}  # far larger validation losses
    path = tmp_path / "bigger.json"
    path.write_text(json.dumps(cfg))
    args = ["--config", str(path), "--out", str(tmp_path / "run"), "--resume", "--steps", "3"]
    assert main(args + (["--reset-best"] if reset else [])) == 0
    best = torch.load(tmp_path / "run" / "best.pt", map_location="cpu", weights_only=True)
    assert best["step"] == (3 if reset else 2)


def test_lloyd_steps_never_raise_the_quantisation_error():
    from engine.training.codec.codebook_refit import lloyd, quantisation_error

    g = torch.Generator().manual_seed(0)
    z = torch.cat([torch.randn(200, 4, generator=g) + c for c in (-5.0, 0.0, 5.0)])
    start = z[:3].clone()  # all three codewords in one cluster
    refit = lloyd(z, start, 10)
    assert quantisation_error(z, refit) < 0.5 * quantisation_error(z, start)
    assert quantisation_error(z, lloyd(z, refit, 1)) <= quantisation_error(z, refit) + 1e-6
