"""Speech audio for the far party's ``say`` steps: espeak-ng when present, else tones.

Audio is 8 kHz 16-bit mono, the telephone rate recordings are stored at.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from pydub import AudioSegment
from pydub.generators import Sine

if TYPE_CHECKING:
    from .engine import Engine

RATE = 8000


class Speech:
    def __init__(self, engine: Engine, enabled: bool = True) -> None:
        self.engine = engine
        self.espeak = shutil.which("espeak-ng") if enabled else None
        self._cache: dict[tuple[str, str], AudioSegment] = {}
        self._warned = False

    async def render(self, text: str, lang: str = "en") -> AudioSegment:
        key = (text, lang)
        if key not in self._cache:
            with self.engine.clock.busy():
                audio = await self._espeak(text, lang) if self.espeak else None
            if audio is None:
                if not self._warned:
                    self._warned = True
                    self.engine.note("espeak-ng not available: speech is rendered as tones")
                audio = tone(text)
            self._cache[key] = audio
        return self._cache[key]

    async def _espeak(self, text: str, lang: str) -> AudioSegment | None:
        assert self.espeak is not None
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "say.wav"
            proc = await asyncio.create_subprocess_exec(
                self.espeak, "-v", lang, "-w", str(out), text,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            await proc.wait()
            if proc.returncode != 0 or not out.exists():
                return None
            seg = AudioSegment.from_wav(out)
        return normalise(seg)


def normalise(seg: AudioSegment) -> AudioSegment:
    return seg.set_channels(1).set_frame_rate(RATE).set_sample_width(2)


def tone(text: str) -> AudioSegment:
    """Stand-in for speech: a 440 Hz tone about as long as the words would take."""
    ms = max(500, 350 * len(text.split()))
    return normalise(Sine(440).to_audio_segment(duration=ms, volume=-12))


def silence(ms: int) -> AudioSegment:
    return AudioSegment.silent(duration=max(0, ms), frame_rate=RATE).set_sample_width(2)
