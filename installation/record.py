"""Video recording: H.264 mp4 on its own thread, a bounded queue, always finalised.

The frame loop calls `write(frame)`, which copies the frame into a queue and returns at once
(block=False, live shows: a full queue drops the frame and counts it) or waits for room
(block=True, offline renders: nothing is ever dropped). A writer thread feeds ffmpeg through
imageio-ffmpeg (libx264, yuv420p, crf). The video goes to a hidden temporary name next to the
final one (`.name.mp4.partial`) and is renamed on `close()`, so a crash or a kill never leaves a
file that looks complete. An encoder or disk error stops the recording: it is logged once and
kept in `.error`; `write()` then returns False and never raises into the frame loop. The mp4 is
fragmented (one fragment a second), so when the disk fills up, what reached it still plays: it
is kept under the final name ("disk full: recording stopped at frame N, kept PATH").

H.264 in yuv420p needs even sizes: an odd width or height is padded by repeating the last
column/row (`output_size` says what is encoded).

`finalize_on_signals(*recorders)` is a context manager for the main thread: SIGTERM raises
SystemExit (SIGINT already raises KeyboardInterrupt), the stack unwinds, and on the way out every
recorder is closed. Closing happens there rather than inside the signal handler because the
handler may interrupt `write()` while it holds the queue's lock.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from installation import lifeline

log = logging.getLogger(__name__)

_STOP = object()  # queue sentinel: no more frames
FRAGMENT_MICROSECONDS = 1_000_000  # a full disk loses at most about this much of the end
DISK_FULL_BYTES = 1 << 20
MAX_REPEATS_SECONDS = 60  # wall_clock: a stalled loop's frame fills at most this much video  # an encoder error with less free space than this is a full disk


def partial_path(path: Path) -> Path:
    """Where a recording lives until it is finalised: hidden, same folder, not '.mp4'."""
    return path.with_name(f".{path.name}.partial")


def _taken(path: Path) -> bool:
    return path.exists() or partial_path(path).exists()  # a finished take, or one being recorded


def take_path(path: Path, stamp: bool = False) -> Path:
    """A name for a new take that names no finished file and no recording in progress: `path`
    itself if it is free (and stamp is False), else `stem-YYYYmmdd-HHMMSS-mmm.mp4`, with `-2`,
    `-3`... added while that is taken too (several takes in one millisecond)."""
    path = Path(path)
    if not stamp and not _taken(path):
        return path
    now = time.time()
    base = f"{path.stem}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}-{int(now * 1000) % 1000:03d}"
    candidate = path.with_name(f"{base}{path.suffix}")
    n = 1
    while _taken(candidate):
        n += 1
        candidate = path.with_name(f"{base}-{n}{path.suffix}")
    return candidate


def move_no_clobber(src: Path, dst: Path) -> Path:
    """Rename src to dst, or to dst-2, dst-3... if dst exists: a recording never overwrites a file.
    Returns where it went."""
    stem, suffix = dst.stem, dst.suffix
    n = 1
    while True:
        try:
            os.link(src, dst)  # fails if dst exists (atomic), unlike os.replace
        except FileExistsError:
            n += 1
            dst = dst.with_name(f"{stem}-{n}{suffix}")
            continue
        except OSError:  # no hard links here (e.g. a FAT drive): best effort
            if dst.exists():
                n += 1
                dst = dst.with_name(f"{stem}-{n}{suffix}")
                continue
            os.replace(src, dst)
            return dst
        os.unlink(src)
        return dst


class VideoRecorder:
    def __init__(
        self,
        path,
        fps: float,
        size: tuple[int, int],
        *,
        crf: int = 18,
        preset: str = "veryfast",
        queue_size: int = 64,
        block: bool = False,
        audio_path=None,
        channels: int = 3,
        wall_clock: bool = False,
        clock=time.monotonic,
    ):
        """path: final .mp4; fps; size: (width, height) of the frames that will be written.
        channels: 3 (RGB) or 4 (RGBA: ffmpeg drops the alpha; the show writes RGBA because
        reading RGBA back from GL is a plain copy, see ShaderChain.read_rgba).
        wall_clock (live shows): the video follows the wall clock at `fps`, whatever rate frames
        come at. Frame k of the video is the newest frame written by time k / fps: frames that
        come faster (a loop woken by OSC) are skipped (`frames_paced`), and a slow loop's frame is
        repeated to fill the time it took. Without it (offline renders) every frame is one frame."""
        width, height = (int(v) for v in size)
        if width < 1 or height < 1:
            raise ValueError(f"recording {path}: size {size}; expected (width, height) >= 1")
        if not fps > 0:
            raise ValueError(f"recording {path}: fps {fps}; expected > 0")
        self.path = Path(path)
        self.fps = float(fps)
        self.size = (width, height)
        self.output_size = (width + width % 2, height + height % 2)  # even, for yuv420p
        if self.output_size != self.size:
            log.warning("recording %s: %dx%d is odd; padding to %dx%d for H.264", self.path, *self.size, *self.output_size)
        if channels not in (3, 4):
            raise ValueError(f"recording {path}: channels {channels}; expected 3 (RGB) or 4 (RGBA)")
        self.channels = int(channels)
        self.crf = int(crf)
        self.preset = str(preset)
        self.block = bool(block)
        self.audio_path = Path(audio_path) if audio_path is not None else None
        self.temp_path = partial_path(self.path)
        self.frames_written = 0  # only the writer thread counts these (repeats included)
        self.wall_clock = bool(wall_clock)
        self._clock = clock
        self._t0: float | None = None
        self._last_slot = -1
        self.frames_paced = 0  # wall_clock: frames skipped because their time slot was filled
        self._dropped_by_loop = 0  # queue full, closed, or after an error
        self._dropped_by_writer = 0  # taken from the queue after an error
        self.error: str | None = None
        self.disk_full = False
        self.frames_kept: int | None = None  # after a full disk: the frames the kept file plays
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, int(queue_size)))
        self._close_lock = threading.Lock()
        self._closed = False
        self._final: Path | None = None
        # Fail early where we can: a folder we cannot write to is known before the first frame.
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.temp_path.touch()
        except OSError as e:
            self._fail(f"cannot write {self.temp_path}: {e}")
        # A daemon thread: if the program dies without close(), the .partial file stays partial
        # (but plays: the mp4 is fragmented). An abrupt end that still runs Python (the display
        # lost) closes it through lifeline's last words.
        self._thread = threading.Thread(target=self._run, name=f"recorder:{self.path.name}", daemon=True)
        self._thread.start()
        self._lifeline = lifeline.register(self._close_on_abrupt_end)

    def _close_on_abrupt_end(self, reason: str) -> None:
        self.close()
        if self.error is None:
            log.error("%s: recording finalised: %s (%d frames)", reason, self.path, self.frames_written)
        else:
            log.error("%s: recording %s: %s", reason, self.path, self.error)

    @property
    def frames_dropped(self) -> int:
        return self._dropped_by_loop + self._dropped_by_writer

    # -- the frame loop side ----------------------------------------------------------------
    def write(self, frame: np.ndarray, copy: bool = True) -> bool:
        """Queue one frame, uint8 [H, W, 3] (or [H, W, 4]: alpha is dropped), top row first.
        copy=False: the caller will not touch the frame again (the show's frames are fresh
        buffers), so it is queued as it is and packed into bytes on the writer thread.
        Returns False if the frame was not taken (queue full with block=False, closed, or the
        recording stopped on an error). A frame of the wrong size or type is a programming
        error and raises ValueError (the show's frames are checked on the first one)."""
        if self._closed or self.error is not None:
            self._dropped_by_loop += 1
            return False
        frame = np.asarray(frame)
        w, h = self.size
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[:2] != (h, w) or frame.shape[2] not in (3, 4):
            raise ValueError(
                f"recording {self.path}: frame {frame.dtype} {frame.shape}; expected uint8 [{h}, {w}, 3]"
            )
        if self.channels == 4 and frame.shape[2] == 3:
            frame = np.concatenate([frame, np.full((h, w, 1), 255, np.uint8)], axis=2)
        repeats = 1
        if self.wall_clock:
            repeats = self._slots_due()
            if repeats == 0:
                self.frames_paced += 1
                return True  # this time slot already has its frame
        data = self._pad(frame[:, :, : self.channels])
        if copy:
            data = data.tobytes()  # a copy: the caller may reuse its buffer
        item = data if repeats == 1 else (data, repeats)
        try:
            if self.block:
                self._queue.put(item)
            else:
                self._queue.put_nowait(item)
        except queue.Full:
            self._dropped_by_loop += 1
            return False
        return True

    def _slots_due(self) -> int:
        """wall_clock: how many video frames the frame written now fills (0: its slot is taken)."""
        now = self._clock()
        if self._t0 is None:
            self._t0 = now
        slot = round((now - self._t0) * self.fps)
        if slot <= self._last_slot:
            return 0
        repeats = min(slot - self._last_slot, MAX_REPEATS_SECONDS * max(1, round(self.fps)))
        self._last_slot = slot
        return repeats

    def _pad(self, rgb: np.ndarray) -> np.ndarray:
        w, h = self.size
        ow, oh = self.output_size
        if (ow, oh) == (w, h):
            return rgb  # tobytes() makes the one copy, whatever the strides
        return np.pad(rgb, ((0, oh - h), (0, ow - w), (0, 0)), mode="edge")

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    # -- the writer thread ------------------------------------------------------------------
    def _open_encoder(self):
        import imageio_ffmpeg

        gen = imageio_ffmpeg.write_frames(
            str(self.temp_path),
            self.output_size,
            fps=self.fps,
            codec="libx264",
            pix_fmt_in="rgba" if self.channels == 4 else "rgb24",
            pix_fmt_out="yuv420p",
            quality=None,  # we pass -crf ourselves
            macro_block_size=1,  # never rescale; sizes are already even
            ffmpeg_log_level="error",
            # Fragmented mp4 (a moof every second): what reached the disk is playable even if the
            # recording is cut off (disk full, power loss); a plain mp4 needs its moov at the end.
            output_params=["-crf", str(self.crf), "-preset", self.preset,
                           "-movflags", "+frag_keyframe+empty_moov+default_base_moof",
                           "-frag_duration", str(FRAGMENT_MICROSECONDS), "-f", "mp4"],
        )
        gen.send(None)  # starts ffmpeg
        return gen

    def _encode(self, gen, data) -> None:
        gen.send(data if isinstance(data, bytes) else data.tobytes())

    def _run(self) -> None:
        gen = None
        in_hand = False  # a frame taken from the queue but not yet encoded
        try:
            if self.error is not None:
                raise RuntimeError(self.error)
            gen = self._open_encoder()
            while True:
                item = self._queue.get()
                if item is _STOP:
                    break
                in_hand = True
                data, repeats = item if isinstance(item, tuple) else (item, 1)
                for _ in range(repeats):
                    self._encode(gen, data)
                    self.frames_written += 1
                in_hand = False
            gen.close()  # ffmpeg finishes the file
            gen = None
        except Exception as e:
            if self._disk_is_full(e):
                self.disk_full = True
                self._fail(f"disk full: recording stopped at frame {self.frames_written} ({e})")
            else:
                self._fail(f"encoder failed: {e}")
            self._dropped_by_writer += int(in_hand)
            if gen is not None:
                with contextlib.suppress(Exception):
                    gen.close()
            # Keep taking frames so a writer blocked on a full queue (block=True) is released.
            while self._queue.get() is not _STOP:
                self._dropped_by_writer += 1

    def _disk_is_full(self, e: BaseException) -> bool:
        """ENOSPC, or an encoder that died (broken pipe) on a file system with next to no space left."""
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        try:
            st = os.statvfs(self.temp_path.parent)
        except OSError:
            return False
        return st.f_bavail * st.f_frsize < DISK_FULL_BYTES

    def _fail(self, message: str) -> None:
        if self.error is None:
            self.error = message.strip()
            log.error("recording %s stopped: %s", self.path, self.error)

    # -- finishing ------------------------------------------------------------------------
    def close(self) -> Path:
        """Drain the queue, finish the mp4, mux audio if asked, rename the temporary file to the
        final name. Idempotent. Returns the final path (check `.error`: on an error the final
        file is not written and the `.partial` file is left for inspection)."""
        with self._close_lock:
            if self._closed:
                return self.path
            self._closed = True
            lifeline.unregister(self._lifeline)
            self._queue.put(_STOP)  # waits for room: the writer is draining
            self._thread.join()
            if self.error is None:
                self._finalise()
            elif self.disk_full:
                self._keep_what_was_written()
            return self.path

    def _keep_what_was_written(self) -> None:
        """After a full disk: the fragments that reached the disk play; give them the final name
        (never a hidden .partial left behind), or remove the file if nothing in it plays."""
        import imageio_ffmpeg

        stopped_at = self.frames_written
        try:
            kept, _ = imageio_ffmpeg.count_frames_and_secs(str(self.temp_path))
        except Exception:  # noqa: BLE001 - no file, or nothing decodable in it
            kept = 0
        self.frames_kept = kept
        if kept > 0:
            try:
                self._move_to_final(self.temp_path)
            except OSError as e:
                self.error = f"disk full: recording stopped at frame {stopped_at}; could not keep {self.temp_path}: {e}"
                log.error("recording %s: %s", self.path, self.error)
                return
            self.error = f"disk full: recording stopped at frame {stopped_at}, kept {self.path} ({kept} frames)"
        else:
            with contextlib.suppress(OSError):
                self.temp_path.unlink()
            self.error = f"disk full: recording stopped at frame {stopped_at}, nothing playable was written"
        log.error("recording %s", self.error)

    def _finalise(self) -> None:
        if self.frames_written == 0:
            self._fail("no frames were written")
            with contextlib.suppress(OSError):
                self.temp_path.unlink()
            return
        if not self.temp_path.is_file() or self.temp_path.stat().st_size == 0:
            self._fail(f"ffmpeg wrote no file at {self.temp_path}")
            return
        try:
            # ffmpeg's exit status is not reported by imageio-ffmpeg: check the file holds every frame.
            import imageio_ffmpeg

            frames, _ = imageio_ffmpeg.count_frames_and_secs(str(self.temp_path))
            if frames != self.frames_written:
                raise RuntimeError(f"{self.temp_path} holds {frames} frames; {self.frames_written} were encoded")
            if self.audio_path is not None:
                self._mux_audio()
            else:
                self._move_to_final(self.temp_path)
        except Exception as e:
            self._fail(f"finalising failed: {e}")

    def _move_to_final(self, src: Path) -> None:
        final = move_no_clobber(src, self.path)
        if final != self.path:
            log.warning("recording %s: that file exists (not overwritten); this take is %s", self.path, final)
            self.path = final

    def _mux_audio(self) -> None:
        """Copy the video stream and add the audio as AAC; the video sets the length (a shorter
        sound is padded with silence: no frame is ever cut off, e.g. a replay whose live sound lost
        a moment)."""
        import imageio_ffmpeg

        if not self.audio_path.is_file():
            raise FileNotFoundError(f"audio file {self.audio_path}: no such file")
        muxed = self.path.with_name(f".{self.path.name}.muxing")
        cmd = [
            imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-v", "error",
            "-i", str(self.temp_path), "-i", str(self.audio_path),
            "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-af", "apad", "-c:a", "aac", "-b:a", "192k",
            "-shortest", "-f", "mp4", str(muxed),
        ]  # fmt: skip
        result = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if result.returncode != 0:
            with contextlib.suppress(OSError):
                muxed.unlink()
            raise RuntimeError(f"muxing audio {self.audio_path} failed: {result.stderr.strip()[-500:]}")
        self._move_to_final(muxed)
        self.temp_path.unlink()

    def __enter__(self) -> "VideoRecorder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def iter_video(path) -> tuple[dict, Iterator[np.ndarray]]:
    """(metadata with 'fps' and 'size', iterator of RGB uint8 frames [h, w, 3], row 0 = top)."""
    import imageio_ffmpeg

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video {path}: no such file")
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    meta = reader.__next__()
    w, h = meta["size"]

    def frames():
        try:
            for buf in reader:
                yield np.frombuffer(buf, dtype=np.uint8).reshape(h, w, 3)
        finally:
            reader.close()

    return meta, frames()


def read_video(path) -> tuple[np.ndarray, float]:
    """Decode a whole video: (frames uint8 [N, H, W, 3], fps). For tests and tools."""
    meta, frames = iter_video(path)
    w, h = meta["size"]
    data = list(frames)
    return (np.stack(data) if data else np.zeros((0, h, w, 3), np.uint8)), float(meta["fps"])


@contextlib.contextmanager
def finalize_on_signals(*recorders: VideoRecorder):
    """Within this block (main thread), SIGTERM and SIGINT end the program by exception, and every
    recorder is closed on the way out, whatever ends the block. A second Ctrl-C while the
    recordings are being finalised is ignored (with a message), so files are not cut short.

        with finalize_on_signals(recorder):
            show.run()
    """
    if threading.current_thread() is not threading.main_thread():
        # Signal handlers can only be installed from the main thread; still close on exit.
        try:
            yield
        finally:
            _close_all(recorders)
        return

    def on_term(signum, frame):
        raise SystemExit(128 + signum)

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:

        def patience(signum, frame):
            log.warning("finishing the recording, please wait")

        signal.signal(signal.SIGINT, patience)
        signal.signal(signal.SIGTERM, patience)
        try:
            _close_all(recorders)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def _close_all(recorders) -> None:
    for rec in recorders:
        try:
            rec.close()
        except Exception:
            log.exception("closing recording %s failed", getattr(rec, "path", rec))
