// PASS and FAIL sounds, made by the Web Audio API (no sound files, nothing to load). A noisy
// hall needs them distinct: PASS is two short rising tones, FAIL one long low buzz, three times.

type Tone = { freq: number; start: number; length: number; type: OscillatorType };

export const PASS_TONES: Tone[] = [
  { freq: 880, start: 0, length: 0.12, type: "sine" },
  { freq: 1320, start: 0.15, length: 0.18, type: "sine" },
];

export const FAIL_TONES: Tone[] = [
  { freq: 220, start: 0, length: 0.25, type: "square" },
  { freq: 220, start: 0.35, length: 0.25, type: "square" },
  { freq: 220, start: 0.7, length: 0.45, type: "square" },
];

let ctx: AudioContext | null = null;

function play(tones: Tone[]): boolean {
  try {
    const Ctor = window.AudioContext;
    if (!Ctor) return false;
    ctx ??= new Ctor();
    const now = ctx.currentTime;
    for (const t of tones) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = t.type;
      osc.frequency.value = t.freq;
      gain.gain.setValueAtTime(0.25, now + t.start);
      gain.gain.setValueAtTime(0, now + t.start + t.length);
      osc.connect(gain).connect(ctx.destination);
      osc.start(now + t.start);
      osc.stop(now + t.start + t.length + 0.02);
    }
    return true;
  } catch {
    // No audio device: the panel still says PASS or FAIL in words and colour.
    return false;
  }
}

export function playResult(passed: boolean, enabled: boolean): boolean {
  if (!enabled) return false;
  return play(passed ? PASS_TONES : FAIL_TONES);
}
