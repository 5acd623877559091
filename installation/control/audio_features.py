"""Audio analysis, pure numpy: mono float blocks in, one feature dict per frame out.

The analyser cuts the incoming samples into STFT hops (about 11.6 ms; a 46 ms Hann window)
and, per hop, updates:
- level: RMS of the newest hop (in dBFS), normalised with a running range;
- bands: N log-spaced band energies between 40 Hz and 16 kHz (dB, running range each);
- spectral flux: summed positive change of the log-compressed magnitude spectrum; an onset
  is a local maximum of the flux above an adaptive threshold (median + k * robust std (MAD) of the
  last ~0.5 s of flux, plus a floor that grows with the median) and at least 100 ms after the previous onset;
- tempo: autocorrelation of the last 8 s of flux, 60-200 bpm with a soft preference for
  ~120 bpm (against octave errors), refined by parabolic interpolation, re-estimated 4x/s;
- beat phase: a comb over the flux history finds where beats fall; between estimates the
  phase runs freely at the tempo (0 at a beat, rising to 1);
- chroma: spectral power folded onto 12 pitch classes (C=0 .. B=11, A=9), 55 Hz - 5 kHz.

`features()` is called once per frame: it returns the smoothed, normalised values and
consumes the onset / beat pulses that happened since the previous call, so a pulse between
two frames is never lost. Keys (all floats, 0..1 unless noted): see `feature_names()`.

`FrameAlignedAnalysis` runs the same analyser over a whole track for offline renders: frame
k sees the audio around k / fps (up to (k + 1/2) / fps plus the ~40 ms detection latency, so
onsets land on the nearest frame), sequentially, so results are deterministic.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

TEMPO_MIN, TEMPO_MAX = 60.0, 200.0
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def feature_names(bands: int = 8) -> list[str]:
    """Every key `AudioAnalyzer.features()` returns, for validating mapping sources."""
    names = ["audio.rms", "audio.level_db", "audio.flux", "audio.onset", "audio.onset_env",
             "audio.tempo", "audio.tempo_norm", "audio.beat", "audio.beat_pulse"]
    names += [f"audio.band{i}" for i in range(bands)]
    names += [f"audio.chroma{i}" for i in range(12)]
    return names


class RunningRange:
    """Normalises a value to 0..1 by a range that follows the signal.

    The range widens at once to take a new extreme and narrows slowly (`decay_seconds`)
    back toward recent values, so a loud passage does not flatten everything after it for
    long. `min_span` keeps quiet noise from being blown up to full scale.
    """

    def __init__(self, lo: float, hi: float, min_span: float, decay_seconds: float = 20.0):
        self.lo, self.hi = float(lo), float(hi)
        self.min_span = float(min_span)
        self.decay_seconds = float(decay_seconds)

    def update(self, x: float, dt: float) -> float:
        a = 1.0 - math.exp(-dt / self.decay_seconds)
        self.hi = x if x > self.hi else self.hi + (x - self.hi) * a
        self.lo = x if x < self.lo else self.lo + (x - self.lo) * a
        span = self.hi - self.lo
        if span < self.min_span:  # grow symmetrically to the minimum span
            mid = 0.5 * (self.hi + self.lo)
            self.lo, self.hi = mid - 0.5 * self.min_span, mid + 0.5 * self.min_span
        return min(1.0, max(0.0, (x - self.lo) / (self.hi - self.lo)))


def _smooth(prev: float, x: float, dt: float, attack: float, release: float) -> float:
    tau = attack if x > prev else release
    return prev + (x - prev) * (1.0 - math.exp(-dt / tau))


class AudioAnalyzer:
    """Streaming feature extraction. `push(samples)` any number of mono float samples,
    `features()` once per frame."""

    def __init__(self, samplerate: int, bands: int = 8, fps: float = 30.0, onset_k: float = 2.0,
                 attack: float = 0.01, release: float = 0.15):
        if samplerate < 8000:
            raise ValueError(f"AudioAnalyzer: samplerate {samplerate} is below 8000 Hz")
        if bands < 1:
            raise ValueError(f"AudioAnalyzer: bands must be >= 1, got {bands}")
        self.samplerate = int(samplerate)
        self.bands = int(bands)
        self.fps = float(fps)
        self.onset_k = float(onset_k)
        self.attack, self.release = float(attack), float(release)
        # 46 ms window, 4x overlap; a power of two for a fast rfft
        self.n_fft = 1 << int(round(math.log2(self.samplerate * 0.046)))
        self.hop = self.n_fft // 4
        self.hop_rate = self.samplerate / self.hop  # flux values per second (~86 at 44.1 kHz)
        self.hop_dt = 1.0 / self.hop_rate
        # samples from a sound's start to the end of the hop where its flux peaks (measured on
        # clicks: the peak comes once the window's centre region reaches the sound)
        self.peak_latency = self.n_fft // 2 + self.hop // 4
        # ... and to the hop where peak picking reports it (one hop later)
        self.onset_latency = self.peak_latency + self.hop
        self._window = np.hanning(self.n_fft).astype(np.float32)
        freqs = np.fft.rfftfreq(self.n_fft, 1.0 / self.samplerate)
        self._band_masks = self._make_bands(freqs)
        self._chroma_matrix = self._make_chroma(freqs)  # [12, bins]

        self._buf = np.zeros(self.n_fft, np.float32)  # the newest n_fft samples
        self._pending = np.zeros(0, np.float32)  # samples not yet forming a full hop
        self._prev_logmag: np.ndarray | None = None
        self._hops = 0

        self._level_range = RunningRange(-70.0, -20.0, min_span=24.0)
        self._band_ranges = [RunningRange(-90.0, -40.0, min_span=30.0) for _ in range(self.bands)]
        self._flux_range = RunningRange(0.0, 1e-3, min_span=1e-3)
        self._flux_recent: deque[float] = deque(maxlen=max(8, int(round(0.5 * self.hop_rate))))
        self._flux_hist = deque(maxlen=int(round(8.0 * self.hop_rate)))  # for tempo and beat
        self._flux_prev2 = 0.0
        self._flux_prev = 0.0
        self._last_onset_hop = -10**9

        self._tempo_every = max(1, int(round(0.25 * self.hop_rate)))
        self.tempo_bpm = 0.0  # 0 until enough history
        self._beat_phase = 0.0
        self._beat_pulse = False
        self._onset_pulse = False
        self._onset_hops: list[int] = []  # hop indices of onsets (diagnostics / tests)

        self._s = {"rms": 0.0, "level_db": -120.0, "flux": 0.0, "onset_env": 0.0,
                   "bands": np.zeros(self.bands), "chroma": np.zeros(12)}

    # -- set-up --

    def _make_bands(self, freqs: np.ndarray) -> list[np.ndarray]:
        hi = min(16000.0, 0.45 * self.samplerate)
        edges = np.geomspace(40.0, hi, self.bands + 1)
        masks = []
        for lo_f, hi_f in zip(edges[:-1], edges[1:]):
            m = (freqs >= lo_f) & (freqs < hi_f)
            if not m.any():  # a band narrower than a bin: take the nearest bin
                m = np.zeros_like(freqs, bool)
                m[int(np.argmin(np.abs(freqs - math.sqrt(lo_f * hi_f))))] = True
            masks.append(m)
        return masks

    def _make_chroma(self, freqs: np.ndarray) -> np.ndarray:
        mat = np.zeros((12, len(freqs)), np.float32)
        ok = (freqs >= 55.0) & (freqs <= 5000.0)
        midi = 69.0 + 12.0 * np.log2(np.where(ok, freqs, 440.0) / 440.0)
        pc = np.mod(np.round(midi).astype(int), 12)
        mat[pc[ok], np.nonzero(ok)[0]] = 1.0
        return mat

    # -- streaming --

    def reset(self) -> None:
        self.__init__(self.samplerate, self.bands, self.fps, self.onset_k, self.attack, self.release)

    def push(self, samples: np.ndarray, gain: float = 1.0) -> None:
        """Feed mono samples (any length, float, -1..1); runs every complete hop."""
        x = np.asarray(samples, np.float32).reshape(-1)
        if gain != 1.0:
            x = x * np.float32(gain)
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)  # a broken driver must not poison the state
        data = np.concatenate([self._pending, x]) if self._pending.size else x
        n_hops = data.size // self.hop
        for i in range(n_hops):
            self._process_hop(data[i * self.hop : (i + 1) * self.hop])
        self._pending = data[n_hops * self.hop :].copy()

    def _process_hop(self, hop: np.ndarray) -> None:
        self._buf = np.concatenate([self._buf[self.hop :], hop])
        self._hops += 1
        dt = self.hop_dt
        s = self._s

        rms = float(np.sqrt(np.mean(np.square(hop, dtype=np.float64))))
        level_db = 20.0 * math.log10(max(rms, 1e-6))
        s["level_db"] = level_db
        s["rms"] = _smooth(s["rms"], self._level_range.update(level_db, dt), dt, self.attack, self.release)

        spec = np.fft.rfft(self._buf * self._window)
        mag = np.abs(spec).astype(np.float32) * (2.0 / self._window.sum())  # sine amplitude units
        power = mag * mag

        for i, m in enumerate(self._band_masks):
            db = 10.0 * math.log10(float(power[m].mean()) + 1e-12)
            s["bands"][i] = _smooth(s["bands"][i], self._band_ranges[i].update(db, dt), dt, self.attack, self.release)

        chroma = self._chroma_matrix @ power
        peak = float(chroma.max())
        chroma = chroma / peak if peak > 1e-10 else np.zeros(12)
        s["chroma"] += (chroma - s["chroma"]) * (1.0 - math.exp(-dt / self.release))

        # spectral flux on a log-compressed spectrum: onsets of quiet and loud sounds alike
        logmag = np.log1p(1000.0 * mag)
        if self._prev_logmag is None:
            flux = 0.0
        else:
            flux = float(np.maximum(logmag - self._prev_logmag, 0.0).mean())
        self._prev_logmag = logmag
        self._flux_hist.append(flux)
        s["flux"] = _smooth(s["flux"], self._flux_range.update(flux, dt), dt, self.attack, self.release)
        self._detect_onset(flux)
        s["onset_env"] *= math.exp(-dt / 0.15)

        self._beat_phase += dt * self.tempo_bpm / 60.0
        if self._beat_phase >= 1.0:
            self._beat_phase -= math.floor(self._beat_phase)
            self._beat_pulse = True
        if self._hops % self._tempo_every == 0:
            self._update_tempo()

    def _detect_onset(self, flux: float) -> None:
        """Peak picking one hop late: the previous flux value is an onset when it is a local
        maximum above median + k * std of the recent flux (and above a small floor)."""
        recent = self._flux_recent
        candidate = self._flux_prev
        if len(recent) >= 4:
            arr = np.fromiter(recent, float)
            med = float(np.median(arr))
            # the floor grows with the median: dense steady sound (noise, pads) has a high flux
            # whose random wiggles must not read as onsets
            spread = 1.4826 * float(np.median(np.abs(arr - med)))  # robust std: big peaks don't mask small ones
            threshold = med + self.onset_k * spread + 0.02 + 0.1 * med
            is_peak = candidate > self._flux_prev2 and candidate >= flux
            refractory = (self._hops - 1 - self._last_onset_hop) * self.hop_dt < 0.1
            if is_peak and candidate > threshold and not refractory:
                self._last_onset_hop = self._hops - 1
                self._onset_hops.append(self._hops - 1)
                self._onset_pulse = True
                self._s["onset_env"] = 1.0
        recent.append(flux)
        self._flux_prev2, self._flux_prev = self._flux_prev, flux

    def _update_tempo(self) -> None:
        env = np.fromiter(self._flux_hist, float)
        if env.size < int(3.0 * self.hop_rate) or env.std() < 1e-6:
            return
        env = env - env.mean()
        n = env.size
        spec = np.fft.rfft(env, 2 * n)
        acf = np.fft.irfft(spec * np.conj(spec))[:n]
        acf = acf / (acf[0] + 1e-12)
        lag_min = int(math.floor(60.0 / TEMPO_MAX * self.hop_rate))
        lag_max = min(n - 2, int(math.ceil(60.0 / TEMPO_MIN * self.hop_rate)))
        lags = np.arange(lag_min, lag_max + 1)
        # prefer tempi near 120 bpm (log-Gaussian, one octave ~ 0.37 less) against octave errors
        bpm = 60.0 * self.hop_rate / lags
        weight = np.exp(-0.5 * (np.log2(bpm / 120.0) / 1.0) ** 2)
        score = acf[lags] * weight
        i = int(np.argmax(score))
        if score[i] <= 0.1:
            return  # no periodicity worth a tempo
        lag = float(lags[i])
        if 0 < i < len(lags) - 1:  # parabolic refinement on the acf itself
            a, b, c = acf[lags[i] - 1], acf[lags[i]], acf[lags[i] + 1]
            denom = a - 2 * b + c
            if denom < 0:
                lag += 0.5 * (a - c) / denom
        new_bpm = 60.0 * self.hop_rate / lag
        self.tempo_bpm = new_bpm if self.tempo_bpm == 0 else 0.7 * self.tempo_bpm + 0.3 * new_bpm
        self._update_beat_phase(env + 0.0)

    def _update_beat_phase(self, env: np.ndarray) -> None:
        """Comb over the last seconds of flux: the offset whose beat grid collects the most
        flux is where beats fall; nudge the running phase toward it (a soft phase lock)."""
        period = 60.0 * self.hop_rate / self.tempo_bpm  # hops per beat
        n = env.size
        best, best_offset = -np.inf, 0.0
        for offset in range(int(math.ceil(period))):
            idx = (n - 1 - offset - np.arange(0, n / period - 1) * period).round().astype(int)
            idx = idx[idx >= 0]
            total = env[idx].sum()
            if total > best:
                best, best_offset = total, offset
        # a click's flux peaks in the hop ending about half a window after it sounded
        since_beat = best_offset + self.peak_latency / self.hop  # hops
        target = since_beat / period
        target -= math.floor(target)
        err = (target - self._beat_phase + 0.5) % 1.0 - 0.5
        self._beat_phase = (self._beat_phase + 0.5 * err) % 1.0

    # -- per frame --

    def features(self) -> dict[str, float]:
        """The current features; consumes the onset and beat pulses since the last call."""
        s = self._s
        out = {
            "audio.rms": float(s["rms"]),
            "audio.level_db": float(s["level_db"]),
            "audio.flux": float(s["flux"]),
            "audio.onset": 1.0 if self._onset_pulse else 0.0,
            "audio.onset_env": float(s["onset_env"]),
            "audio.tempo": float(self.tempo_bpm),
            "audio.tempo_norm": min(1.0, max(0.0, (self.tempo_bpm - TEMPO_MIN) / (TEMPO_MAX - TEMPO_MIN))),
            "audio.beat": float(self._beat_phase),
            "audio.beat_pulse": 1.0 if self._beat_pulse else 0.0,
        }
        for i in range(self.bands):
            out[f"audio.band{i}"] = float(s["bands"][i])
        for i in range(12):
            out[f"audio.chroma{i}"] = float(s["chroma"][i])
        self._onset_pulse = False
        self._beat_pulse = False
        return out

    @property
    def onset_times(self) -> list[float]:
        """Time (s, from the first sample) of the end of each onset's hop, for diagnostics."""
        return [(h + 1) * self.hop / self.samplerate for h in self._onset_hops]


class FrameAlignedAnalysis:
    """Frame-exact features for a whole track (offline renders).

    `features_at(k)` returns what the analyser reports after seeing the samples up to
    (k + 1/2) / fps plus its detection latency (about 40 ms), so an onset lands on the frame
    nearest to it and levels are those of the audio around k / fps. Frames run
    in order; asking for a frame behind the current one restarts from 0, asking ahead runs
    the frames in between, so every frame's result is the same however it is asked for.
    """

    def __init__(self, samples: np.ndarray, samplerate: int, fps: float, bands: int = 8, **kwargs):
        self.samples = np.asarray(samples, np.float32).reshape(-1)
        self.samplerate = int(samplerate)
        self.fps = float(fps)
        self._kwargs = dict(bands=bands, fps=fps, **kwargs)
        self._restart()

    def _restart(self) -> None:
        self.analyzer = AudioAnalyzer(self.samplerate, **self._kwargs)
        self._next_frame = 0
        self._consumed = 0
        self._last: dict[str, float] | None = None
        self._phase = 0.0

    def _end_sample(self, k: int) -> int:
        # Frame k owns the moments nearest to it, (k - 1/2) / fps .. (k + 1/2) / fps. An onset
        # is reported about half a window plus 1.5 hops after it sounds (the window must reach
        # it, then peak picking waits one hop), so read that much further.
        return int(round((k + 0.5) * self.samplerate / self.fps)) + self.analyzer.onset_latency

    def features_at(self, frame_index: int, gain: float = 1.0) -> dict[str, float]:
        k = int(frame_index)
        if k < 0:
            raise ValueError(f"features_at: frame_index must be >= 0, got {frame_index}")
        if k < self._next_frame - 1:
            self._restart()
        if k == self._next_frame - 1 and self._last is not None:
            return dict(self._last)
        while self._next_frame <= k:
            end = self._end_sample(self._next_frame)
            chunk = self.samples[self._consumed : end]
            if end > self.samples.size:  # past the end of the track: silence
                chunk = np.concatenate([chunk, np.zeros(end - max(self._consumed, self.samples.size), np.float32)])
            self.analyzer.push(chunk, gain)
            self._consumed = end
            f = self.analyzer.features()
            # the analyser has heard `ahead` seconds past the frame's time: the beat phase is
            # wound back to the frame's own time, and the beat pulse follows that phase
            ahead = end / self.samplerate - self._next_frame / self.fps
            phase = (f["audio.beat"] - ahead * f["audio.tempo"] / 60.0) % 1.0
            f["audio.beat_pulse"] = 1.0 if f["audio.tempo"] > 0 and self._phase - phase > 0.5 else 0.0
            f["audio.beat"] = self._phase = phase
            self._last = f
            self._next_frame += 1
        return dict(self._last)

    @property
    def frame_count(self) -> int:
        """Frames needed to cover the track at this fps."""
        return int(math.ceil(self.samples.size * self.fps / self.samplerate))
